"""`mlflow run -e promote` that refuses or fails leaves a run that says what and why."""

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from btcrl.cli import main
from btcrl.tracking import ensure_experiment


def test_a_failed_promotion_names_the_mlflow_run_and_says_why(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = MlflowClient().create_run(ensure_experiment("btcrl-promote"))  # what mlflow run makes
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    result = CliRunner().invoke(main, ["promote", "models:/btcrl-nope/1"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    tags = MlflowClient().get_run(outer.info.run_id).data.tags
    assert tags["mlflow.runName"] == "promote models:/btcrl-nope/1"
    assert tags["btcrl.stage"] == "promote"
    assert (
        tags["btcrl.end_reason"].startswith("BtcrlError: ")
        and "btcrl-nope" in (tags["btcrl.end_reason"])
    )
