"""``walkforward.ensemble``: the seeds' ensemble stitched from the finished jobs' models, on a
real walk-forward (bundled sample, sqlite stores, tiny budget)."""

import math
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import dump_config, with_overrides
from btcrl.policy import load_policy
from btcrl.policy.ensemble import LoadedEnsemble
from btcrl.walkforward import run_walkforward
from tests.walkforward.test_resume import tiny_walkforward

STITCHED = ("total_return", "sharpe", "max_drawdown", "turnover", "trade_count")
#: a prior defined from the first test month on (short lookbacks), so that the residual
#: members trade and differ
SHORT_PRIOR = {"features.prior.sma_days": [5, 10, 20], "features.prior.vol_window_days": 5}


@pytest.mark.slow
def test_ensemble_of_finished_seeds_trains_nothing_and_is_counted(
    tmp_path: Path, tracking_uri: str
) -> None:
    config = tiny_walkforward(
        tmp_path, tracking_uri, **{"walkforward.seeds": [0, 1]}, **SHORT_PRIOR
    )
    first = run_walkforward(config)
    assert (first.trained, first.finished) == (4, 4)
    assert "ensemble/sharpe" not in first.metrics
    assert first.metrics["stats/n_trials"] == 1
    assert first.registered_version == 1  # the primary seed's model of segment 1

    # the same study with --ensemble: its recipe is unchanged, nothing is trained
    again = run_walkforward(with_overrides(config, {"walkforward.ensemble": True}))
    assert (again.trained, again.finished) == (0, 4)
    assert again.parent_run_id == first.parent_run_id
    m = again.metrics
    for key in STITCHED:
        assert math.isfinite(m[f"ensemble/{key}"])
    assert {"ensemble/buy_and_hold/excess_return", "ensemble/psr", "ensemble/dsr"} <= set(m)
    assert m["stitched/total_return"] == first.metrics["stitched/total_return"]
    # the ensemble is another policy on the same windows: one more entry in the ledger
    assert m["stats/n_trials"] == 2 and math.isfinite(m["ensemble/dsr"])
    rows = again.table[again.table["seed"] == "ensemble"]
    assert list(rows["segment"]) == [0, 1]
    assert (rows["oos_trade_count"] > 0).all()
    for seed in (0, 1):  # the mean action trades otherwise than either member
        member = again.table[again.table["seed"] == seed]
        assert rows["oos_total_return"].tolist() != member["oos_total_return"].tolist()
    client = mlflow.tracking.MlflowClient()
    experiment = [client.get_run(first.parent_run_id).info.experiment_id]
    runs = client.search_runs(
        experiment, filter_string="tags.`btcrl.ledger.kind` = 'walkforward_ensemble'"
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["mlflow.parentRunId"] == first.parent_run_id
    assert run.data.tags["mlflow.runName"] == "walkforward-wf-test-ensemble-s0-1"
    assert run.data.metrics["stitched/sharpe"] == pytest.approx(m["ensemble/sharpe"])
    # the latest segment's ensemble is registered as the challenger; promote reads its
    # returns and DSR from the ensemble's run
    assert again.registered_version == 2
    version = client.get_model_version_by_alias("btcrl-wf-ppo", "challenger")
    assert str(version.version) == "2" and "seed ensemble, segment 1" in version.description
    assert version.tags["btcrl.parent_run_id"] == run.info.run_id
    assert version.tags["btcrl.oos_sharpe"] == f"{m['ensemble/sharpe_per_bar']:.6f}"
    served = load_policy("models:/btcrl-wf-ppo/2")
    assert isinstance(served, LoadedEnsemble) and len(served.members) == 2
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert "oos_returns.csv" in files
    # btcrl promote reads the ensemble's returns and its ledger DSR (N = 2 on these windows)
    from btcrl.promote.challenge import promote_model

    outcome = promote_model(config, "models:/btcrl-wf-ppo@challenger")
    assert outcome.version == 2 and outcome.bars == len(again_returns(run.info.run_id))
    assert "N = 2" in outcome.decision.reason or "N=2" in outcome.decision.reason
    page = mlflow.artifacts.load_text(f"runs:/{first.parent_run_id}/report.html")
    assert "ensemble of the seeds" in page
    baselines = mlflow.artifacts.load_text(f"runs:/{first.parent_run_id}/baselines.csv")
    assert "ensemble of seeds" in baselines

    # again, from the command line: the ensemble's run is found, not duplicated; N stays 2
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    cli = CliRunner().invoke(main, ["walkforward", "--config", str(path), "--ensemble"])
    assert cli.exit_code == 0, cli.output
    assert "jobs finished 4/4 (trained by this process 0" in cli.output
    assert "ensemble of the seeds: total return" in cli.output
    assert "N=2 configurations" in cli.output
    assert "registered version" not in cli.output  # registered already

    # one seed has no ensemble (it would trade as that seed): none is stitched or counted
    single = {"walkforward.ensemble": True, "walkforward.seeds": [0]}
    one = run_walkforward(with_overrides(config, single))
    assert one.trained == 0
    assert not any(key.startswith("ensemble/") for key in one.metrics)
    assert one.metrics["stats/n_trials"] == 2


def again_returns(run_id: str) -> list[str]:
    """The rows of a run's ``oos_returns.csv`` (its header left out)."""
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/oos_returns.csv")
    return text.strip().splitlines()[1:]
