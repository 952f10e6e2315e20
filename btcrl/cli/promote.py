"""`btcrl promote MODEL_URI`: challenger -> champion through the gate (docs/selection.md)."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from btcrl.cli.common import BLANK_FLOAT, build_experiment_config, config_options, handle_errors
from btcrl.errors import BtcrlError

if TYPE_CHECKING:
    from btcrl.config import ExperimentConfig


@click.command()
@config_options
@click.argument("model_uri", metavar="MODEL_URI")
@click.option(
    "--min-dsr",
    type=BLANK_FLOAT,
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
    min_dsr: float | None,
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
    try:
        result = promote_model(config, model_uri)
    except BtcrlError as exc:
        _record_under_mlflow_run(config, model_uri, f"BtcrlError: {exc}")
        raise
    line = f"{result.name} v{result.version}: {result.decision.reason}"
    _record_under_mlflow_run(config, model_uri, None if result.decision.promote else line)
    click.echo(line)
    if not result.decision.promote:
        sys.exit(1)


def _record_under_mlflow_run(
    config: "ExperimentConfig", model_uri: str, refusal: str | None
) -> None:
    """Under ``mlflow run -e promote`` (MLFLOW_RUN_ID set): name the run MLflow made after
    what it promoted, tag its stage and, for a refusal or an error, why (``btcrl.end_reason``),
    rather than leave an untagged FAILED run with a random name."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from btcrl.tracking import configure_tracking, set_tags
    from btcrl.tracking import tags as tag_names

    configure_tracking(config.tracking)
    found = {tag_names.RUN_NAME: f"promote {model_uri}", tag_names.STAGE: "promote"}
    if refusal:
        found[tag_names.END_REASON] = refusal[:500]
    set_tags(found, run_id=run_id)
