"""`btcrl tune`."""

from pathlib import Path

import click

from btcrl.cli.common import config_options, data_options, handle_errors
from btcrl.errors import NotAvailableError


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@handle_errors
def tune(config_path: Path | None, overrides: tuple[str, ...], **options: object) -> None:
    """Not available yet."""
    raise NotAvailableError("btcrl tune is not available yet in this version")
