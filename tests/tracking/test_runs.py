"""start_run's end states and tags, stale-run cleanup, and the SB3 -> MLflow logger sink."""

import subprocess
import sys

import mlflow
import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from btcrl.tracking import mark_stale_runs, process_tags, start_run
from btcrl.tracking.sb3_logger import make_sb3_logger
from btcrl.tracking.stale import HOST_TAG, PID_TAG
from btcrl.tracking.tags import END_REASON as END_REASON_TAG


class Pruned(Exception):
    pass


def _status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


def test_run_ends_finished_failed_or_killed(tracking_uri: str) -> None:
    with start_run("btcrl-test", "train", run_name="ok") as run:
        ok = run.info.run_id
    assert _status(ok) == "FINISHED"
    assert MlflowClient().get_run(ok).data.tags["btcrl.stage"] == "train"

    with (
        pytest.raises(ValueError, match="^boom\nsecond line$"),
        start_run("btcrl-test", "train") as run,
    ):
        failed = run.info.run_id
        raise ValueError("boom\nsecond line")
    assert _status(failed) == "FAILED"
    assert MlflowClient().get_run(failed).data.tags[END_REASON_TAG] == "ValueError: boom"

    with (
        pytest.raises(Pruned, match="^pruned at step 5$"),
        start_run("btcrl-test", "train", killed_on=(Pruned,)) as run,
    ):
        pruned = run.info.run_id
        raise Pruned("pruned at step 5")
    assert _status(pruned) == "KILLED"


def test_nested_failure_leaves_the_parent_running(tracking_uri: str) -> None:
    with start_run("btcrl-test", "tune") as parent:
        with (
            pytest.raises(Pruned, match="^child pruned$"),
            start_run(
                "btcrl-test", "train", parent_run_id=parent.info.run_id, killed_on=(Pruned,)
            ) as child,
        ):
            raise Pruned("child pruned")
        assert mlflow.active_run().info.run_id == parent.info.run_id
    assert _status(child.info.run_id) == "KILLED"
    assert _status(parent.info.run_id) == "FINISHED"


def test_runs_of_dead_processes_are_marked_killed(tracking_uri: str) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    client = MlflowClient()
    experiment_id = client.create_experiment("btcrl-stale")
    stale = client.create_run(experiment_id, tags=process_tags(dead_pid) | {PID_TAG: str(dead_pid)})
    alive = client.create_run(experiment_id, tags=process_tags())
    elsewhere = client.create_run(experiment_id, tags={HOST_TAG: "other-host", PID_TAG: "1"})
    assert mark_stale_runs(experiment_id) == [stale.info.run_id]
    assert _status(stale.info.run_id) == "KILLED"
    assert "ended without closing" in client.get_run(stale.info.run_id).data.tags[END_REASON_TAG]
    assert _status(alive.info.run_id) == "RUNNING"
    assert _status(elsewhere.info.run_id) == "RUNNING"


def test_pid_reuse_is_detected(tracking_uri: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("btcrl-reuse")
    tags = process_tags() | {"btcrl.pid_start": "12.00"}  # our pid, another start time
    reused = client.create_run(experiment_id, tags=tags)
    assert mark_stale_runs(experiment_id) == [reused.info.run_id]


def test_sb3_logger_writes_metrics_at_the_given_step(tracking_uri: str) -> None:
    with start_run("btcrl-test", "train") as run:
        logger = make_sb3_logger(run.info.run_id)
        logger.record("train/loss", 0.5)
        logger.record("rollout/ep_rew_mean", float("nan"))
        logger.record("time/fps", 1234)
        logger.record("note", "text is skipped")
        logger.record("hidden", 1.0, exclude="mlflow")
        logger.dump(step=4096)
        logger.record("train/loss", 0.25)
        logger.dump(step=8192)
        client = MlflowClient()
        assert client.get_metric_history(run.info.run_id, "train/loss") == []  # kept
        logger.close()
    client = MlflowClient()
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(4096, 0.5), (8192, 0.25)]
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["time/fps"] == 1234
    assert "rollout/ep_rew_mean" not in metrics
    assert "hidden" not in metrics and "note" not in metrics
    assert RunStatus.is_terminated(RunStatus.from_string(_status(run.info.run_id)))
