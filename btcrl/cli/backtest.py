"""`btcrl backtest`: a registry model (or a rule baseline) on a period, logged to MLflow."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

from btcrl.cli.common import (
    BLANK_FLOAT,
    build_experiment_config,
    config_options,
    data_options,
    handle_errors,
)

if TYPE_CHECKING:
    from btcrl.backtest.runner import BacktestResult

_KEYS = {
    "model": "backtest.model",
    "policy": "backtest.policy",
    "risk_free_rate": "backtest.risk_free_rate",
    "output_dir": "backtest.output_dir",
}


@click.command()
@config_options
@data_options
@click.option(
    "--model",
    "--model-uri",  # mlflow run's -P model_uri=...
    default=None,
    metavar="URI",
    help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a local model path.",
)
@click.option(
    "--policy",
    default=None,
    metavar="RULE",
    help="A rule baseline instead of a model: buy_and_hold | flat | trend_voltarget | "
    "strategy:NAME.",
)
@click.option(
    "--strict/--no-strict",
    default=None,
    help="Refuse a period that overlaps the model's training or validation span.",
)
@click.option(
    "--force-close/--no-force-close",
    default=None,
    help="Close an open position at the last bar's close (default on).",
)
@click.option(
    "--risk-free-rate",
    type=BLANK_FLOAT,
    default=None,
    help="Annual risk-free rate, fraction.  [default: config, 0.0]",
)
@click.option(
    "--output-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Also keep the result files in this directory (replaced atomically).",
)
@handle_errors
def backtest(
    config_path: Path | None,
    overrides: tuple[str, ...],
    strict: bool | None,
    force_close: bool | None,
    **options: object,
) -> None:
    """Backtest a model (or a rule) on --start..--end: steps, trades, metrics against
    buy-and-hold, plots, all in one MLflow run (experiment btcrl-backtest)."""
    from btcrl.backtest import run_backtest
    from btcrl.backtest.artifacts import summary_lines

    options["strict"] = strict
    options["force_close"] = force_close
    keys = {**_KEYS, "strict": "backtest.strict", "force_close": "backtest.force_close"}
    config = build_experiment_config(config_path, overrides, options, keys)
    result = run_backtest(config)
    for line in summary_lines(result.summary):
        click.echo(line)
    if result.run_id:
        click.echo(f"run id: {result.run_id}")
    if result.output_dir:
        click.echo(f"files: {result.output_dir}")
    if config.backtest.plots:
        click.echo(f"report: {_report_path(result)}")


def _report_path(result: "BacktestResult") -> str:
    """The report.html to open: in --output-dir when given, else the run's artifact."""
    from btcrl.backtest.artifacts import REPORT

    if result.output_dir:
        return str(Path(result.output_dir) / REPORT)
    from btcrl.tracking.lookup import artifact_location

    return artifact_location(str(result.run_id), REPORT) if result.run_id else "(not logged)"
