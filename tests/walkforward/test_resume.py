"""A real walk-forward on the bundled sample (tiny budget, sqlite MLflow + Optuna stores):
it logs parent and child runs, resumes without retraining, and extends to new segments."""

import math
import os
import uuid
from pathlib import Path

import mlflow
import pytest

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import ConfigError
from btcrl.walkforward import run_walkforward


def tiny_walkforward(tmp: Path, tracking_uri: str, **values: object) -> ExperimentConfig:
    base: dict[str, object] = {
        "tracking.uri": tracking_uri,
        "data.data_dir": str(tmp / "data"),
        "data.start": "2024-03-01",
        "data.end": "2024-10-31",
        "features.strategies": ["ott"],
        "train.total_timesteps": 256,
        "train.n_envs": 2,
        "train.eval_every": 128,
        "train.system_metrics": False,
        "train.torch_threads": 1,
        "env.episode_length": 64,
        "agent.n_steps": 64,
        "agent.batch_size": 64,
        "agent.n_epochs": 1,
        "agent.net_arch": [8, 8],
        "agent.device": "cpu",
        "walkforward.train_months": 3,
        "walkforward.val_months": 1,
        "walkforward.test_months": 1,
        "walkforward.step_months": 1,
        "walkforward.name": "wf-test",
        "walkforward.storage": f"sqlite:///{tmp / 'studies.db'}",
        "walkforward.segments": [0, 1],
        "walkforward.seeds": [0],  # one job per segment; tests opt into seeds and the ensemble
        "walkforward.ensemble": False,
    }
    base.update(values)
    return with_overrides(ExperimentConfig(), base)


def _train_runs(experiment: str) -> int:
    found = mlflow.search_runs(
        experiment_names=[experiment], filter_string="tags.`btcrl.stage` = 'train'"
    )
    return len(found)


@pytest.mark.slow
def test_run_resume_extend(tmp_path: Path, tracking_uri: str) -> None:
    config = tiny_walkforward(tmp_path, tracking_uri)
    first = run_walkforward(config)
    assert (first.trained, first.finished, first.wanted) == (2, 2, 2)
    assert len(first.segments) == 5  # 2024-06 .. 2024-10 test months
    assert first.metrics["segments/stitched"] == 2
    # alone on its window set: N = 1, no DSR; the PSR stands, labelled so
    assert first.metrics["stats/n_trials"] == 1 and math.isnan(first.metrics["stats/dsr"])
    assert 0.0 <= first.metrics["stats/psr"] <= 1.0
    assert first.registered_version == 1
    assert list(first.table["segment"]) == [0, 1]
    # in sample (the train span) and out of sample, each before and after costs
    in_and_out = {"train_span/total_return", "train_span/return_before_costs"}
    assert in_and_out | {"oos_total_return", "oos_return_before_costs"} <= set(first.table)
    client = mlflow.tracking.MlflowClient()
    files = {f.path for f in client.list_artifacts(first.parent_run_id)}
    assert {"segments.csv", "steps.csv", "trades.csv", "report.html"} <= files
    assert "trial_ledger.csv" in files
    page = mlflow.artifacts.load_text(f"runs:/{first.parent_run_id}/report.html")
    assert "By market regime" in page and "win / draw / loss" in page  # the breakdowns
    parent_tags = client.get_run(first.parent_run_id).data.tags
    assert parent_tags["btcrl.ledger.statistic"] == "PSR"
    assert parent_tags["btcrl.ledger.n_trials"] == "1"
    child = client.get_run(str(first.table["run_id"].iloc[1]))
    assert child.data.tags["mlflow.parentRunId"] == first.parent_run_id
    assert child.data.tags["btcrl.walkforward.test_start"].startswith("2024-07-01")
    assert child.data.tags["mlflow.runName"].startswith("seg1-test2024-07-01..2024-07-31-s0-")
    parent = client.get_run(first.parent_run_id)
    assert parent.info.end_time >= child.info.end_time  # the parent spans its segments
    assert "walkforward.train_months" in parent.data.params
    assert "agent.learning_rate" in parent.data.params and "agent.buffer_size" not in (
        parent.data.params
    )
    assert not [
        k
        for k in parent.data.params
        if k.split(".")[0] in ("tune", "promote", "pretrain", "tracking")
    ]
    assert child.data.metrics["oos/total_return"] == pytest.approx(
        first.table["oos_total_return"].iloc[1]
    )
    assert _train_runs("btcrl-walkforward") == 2

    again = run_walkforward(config)  # same name: resumes, trains nothing
    assert (again.trained, again.finished) == (0, 2)
    assert again.parent_run_id == first.parent_run_id
    assert again.registered_version is None  # the latest segment's model is registered already
    # the first stitch traded the models this process trained (kept in memory), this one the
    # logged models loaded from the store: the same checkpoints, so the same trades
    for column in ("oos_total_return", "oos_trade_count", "oos_turnover", "alpha"):
        assert list(again.table[column]) == list(first.table[column])
    assert again.metrics["stitched/total_return"] == first.metrics["stitched/total_return"]
    assert _train_runs("btcrl-walkforward") == 2

    more = run_walkforward(with_overrides(config, {"walkforward.segments": [0, 1, 2]}))
    assert (more.trained, more.finished) == (1, 3)
    assert more.metrics["segments/stitched"] == 3
    assert more.registered_version == 2
    # three test windows are another window set: the parent's entry moved there, still alone
    assert more.metrics["stats/n_trials"] == 1
    assert _train_runs("btcrl-walkforward") == 3

    other = with_overrides(config, {"agent.learning_rate": 1e-3})
    named = r"made with agent\.learning_rate=0\.0003 \(now 0\.001\):"  # the setting, no hash
    with pytest.raises(ConfigError, match=named):
        run_walkforward(other)


@pytest.mark.slow
def test_two_workers_and_two_seeds(tmp_path: Path, tracking_uri: str) -> None:
    """Two spawned workers share the grid: every (segment, seed) job runs exactly once."""
    config = tiny_walkforward(
        tmp_path, tracking_uri, **{"walkforward.workers": 2, "walkforward.seeds": [0, 1]}
    )
    result = run_walkforward(config)
    assert result.worker_exit_codes == [0, 0]
    assert (result.trained, result.finished, result.wanted) == (4, 4, 4)
    assert sorted(zip(result.table["segment"], result.table["seed"], strict=True)) == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    assert result.table["run_id"].nunique() == 4
    assert _train_runs("btcrl-walkforward") == 4
    assert "seeds/sharpe_std" in result.metrics
    # the seeds are one configuration: alone on its window set, its DSR is the PSR (none)
    assert result.metrics["stats/n_trials"] == 1
    assert math.isnan(result.metrics["stats/dsr"])


@pytest.mark.postgres
def test_two_workers_on_postgres(tmp_path: Path, tracking_uri: str) -> None:
    """The CI PostgreSQL: two workers of one machine share the study; a second invocation
    (another machine in practice) joins, finds every job finished and trains nothing."""
    url = os.environ.get("BTCRL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BTCRL_TEST_POSTGRES_URL is not set (.ci/run starts a local PostgreSQL)")
    name = f"wf-pg-{uuid.uuid4().hex[:8]}"
    config = tiny_walkforward(
        tmp_path,
        tracking_uri,
        **{"walkforward.workers": 2, "walkforward.storage": url, "walkforward.name": name},
    )
    first = run_walkforward(config)
    assert first.worker_exit_codes == [0, 0]
    assert (first.trained, first.finished) == (2, 2)
    joined = run_walkforward(with_overrides(config, {"walkforward.workers": 1}))
    assert (joined.trained, joined.finished) == (0, 2)
    assert joined.parent_run_id == first.parent_run_id
