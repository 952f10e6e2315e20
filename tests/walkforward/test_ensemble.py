"""``walkforward.ensemble``: the seeds' ensemble stitched from the finished jobs' models, on a
real walk-forward (bundled sample, sqlite stores, tiny budget)."""

import math
from pathlib import Path

import mlflow
import pytest

from btcrl.config import with_overrides
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
    runs = client.search_runs(
        [client.get_run(first.parent_run_id).info.experiment_id],
        filter_string="tags.`btcrl.walkforward.seed` = 'ensemble'",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["mlflow.parentRunId"] == first.parent_run_id
    assert run.data.tags["btcrl.ledger.kind"] == "walkforward_ensemble"
    assert run.data.metrics["stitched/sharpe"] == pytest.approx(m["ensemble/sharpe"])
    page = mlflow.artifacts.load_text(f"runs:/{first.parent_run_id}/report.html")
    assert "ensemble of the seeds" in page
    baselines = mlflow.artifacts.load_text(f"runs:/{first.parent_run_id}/baselines.csv")
    assert "ensemble of seeds" in baselines

    # again: the ensemble's run is found, not duplicated; N stays 2
    third = run_walkforward(with_overrides(config, {"walkforward.ensemble": True}))
    assert third.trained == 0 and third.metrics["stats/n_trials"] == 2
    assert third.metrics["ensemble/sharpe"] == m["ensemble/sharpe"]

    # an ensemble of one seed trades as that seed, bit for bit
    single = {"walkforward.ensemble": True, "walkforward.seeds": [0]}
    one = run_walkforward(with_overrides(config, single))
    assert one.trained == 0
    for key in STITCHED:
        assert one.metrics[f"ensemble/{key}"] == one.metrics[f"stitched/{key}"]
