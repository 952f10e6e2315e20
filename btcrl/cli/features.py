"""`btcrl features`: export the feature table the env sees, one row per bar."""

import logging
from pathlib import Path

import click

from btcrl.cli.common import build_experiment_config, config_options, data_options, handle_errors
from btcrl.data.atomic import atomic_write
from btcrl.errors import DataError

logger = logging.getLogger(__name__)


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file to write: raw and normalised columns per bar.",
)
@handle_errors
def features(
    config_path: Path | None, overrides: tuple[str, ...], out: Path, **options: object
) -> None:
    """Compute features for the configured data and write them to --out (parquet)."""
    from btcrl.features import feature_table, load_feature_set

    config = build_experiment_config(config_path, overrides, options)
    fs = load_feature_set(config.data, config.features)
    table = feature_table(fs)
    try:
        atomic_write(out, table.to_parquet, what="feature table")
    except ValueError as exc:
        raise DataError(f"cannot write feature table to {out}: {exc}") from None
    click.echo(
        f"wrote {out}: {len(table)} bars x {table.shape[1]} columns "
        f"({len(fs.spec.feature_names)} observed), first valid row {fs.first_valid}, "
        f"spec {fs.spec.spec_hash}, data {fs.spec.data_hash}"
    )
