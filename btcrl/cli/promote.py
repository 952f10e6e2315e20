"""`btcrl promote MODEL_URI`: challenger -> champion through the gate (docs/selection.md)."""

import sys
from pathlib import Path

import click

from btcrl.cli.common import build_experiment_config, config_options, handle_errors


@click.command()
@config_options
@click.argument("model_uri", metavar="MODEL_URI")
@click.option(
    "--min-dsr",
    default=None,
    help="Lowest out-of-sample Deflated Sharpe Ratio to promote (default promote.min_dsr, 0.95).",
)
@click.option(
    "--data-dir",
    default=None,
    envvar="BTCRL_DATA_DIR",
    help="Store and cache root for the champion's re-run (env BTCRL_DATA_DIR, default ./data).",
)
@click.option(
    "--allow-single-trial",
    is_flag=True,
    help="Accept a DSR that counted one configuration (N = 1: it is the PSR, no deflation); "
    "sets promote.allow_single_trial.",
)
@handle_errors
def promote(
    config_path: Path | None,
    overrides: tuple[str, ...],
    model_uri: str,
    min_dsr: str | None,
    data_dir: str | None,
    allow_single_trial: bool,
) -> None:
    """Move NAME@champion to MODEL_URI (models:/NAME/V or models:/NAME@challenger) only if
    its out-of-sample DSR reaches promote.min_dsr and it beats the current champion on the
    same out-of-sample bars. A DSR that counted one configuration (the PSR) is refused unless
    --allow-single-trial. Otherwise print why and exit 1; the registry is left untouched."""
    from btcrl.promote.challenge import promote_model

    keys = {"min_dsr": "promote.min_dsr", "allow_single_trial": "promote.allow_single_trial"}
    single = "true" if allow_single_trial else None  # unset: the config decides
    options = {"min_dsr": min_dsr, "data_dir": data_dir, "allow_single_trial": single}
    config = build_experiment_config(config_path, overrides, options, keys)
    result = promote_model(config, model_uri)
    click.echo(f"{result.name} v{result.version}: {result.decision.reason}")
    if not result.decision.promote:
        sys.exit(1)
