"""Issue 23.8 and 23.9: the walk-forward's parent run is RUNNING while its segments run,
FINISHED when it completes, KILLED when interrupted or orphaned; each invocation counts the
jobs it trained itself (real sqlite MLflow and Optuna stores, tiny budgets)."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import flatten_config
from btcrl.jobs.processes import EXIT_INTERRUPTED, EXIT_ORPHANED, spawn_workers
from btcrl.tracking import process_tags
from btcrl.tracking.walkforward import create_parent_run, open_parent_run
from btcrl.walkforward import WalkforwardResult, run_walkforward
from btcrl.walkforward.jobs import JobContext
from btcrl.walkforward.workers import _on_orphan, _process_main, run_worker
from tests.walkforward.test_resume import tiny_walkforward

EXPERIMENT = "btcrl-walkforward"


def _parent() -> mlflow.entities.Run:
    runs = mlflow.tracking.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string="tags.`btcrl.stage` = 'walkforward'",
    )
    assert len(runs) == 1
    return runs[0]


def test_interrupted_walkforward_ends_its_parent_killed(tmp_path: Path, tracking_uri: str) -> None:
    seen: list[str] = []

    def interrupt(done: int, wanted: int) -> None:  # the first report, before any training
        seen.append(_parent().info.status)
        raise KeyboardInterrupt("Ctrl-C")

    config = tiny_walkforward(tmp_path, tracking_uri)
    with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
        run_walkforward(config, progress=interrupt)
    assert seen == ["RUNNING"]  # not FINISHED from its creation on
    parent = _parent()
    assert parent.info.status == "KILLED"
    assert parent.data.tags["btcrl.end_reason"] == "KeyboardInterrupt: Ctrl-C"


@pytest.mark.slow
def test_parent_is_running_until_done_and_jobs_are_counted_per_process(
    tmp_path: Path, tracking_uri: str
) -> None:
    """A second invocation on the same name joins after the first job and trains the other:
    each reports the one job it trained, not the two the study gained."""
    config = tiny_walkforward(tmp_path, tracking_uri)
    seen: list[str] = []
    joined: list[WalkforwardResult] = []

    def join_after_first(done: int, wanted: int) -> None:
        seen.append(_parent().info.status)
        if done == 1 and not joined:
            joined.append(run_walkforward(config))
            open_parent_run(_parent().info.run_id)  # the first one still runs

    first = run_walkforward(config, progress=join_after_first)
    assert set(seen) == {"RUNNING"}
    assert _parent().info.status == "FINISHED"
    assert (first.trained, first.trained_in_study, first.finished) == (1, 2, 2)
    assert (joined[0].trained, joined[0].trained_in_study, joined[0].finished) == (1, 1, 2)


def test_orphaned_worker_ends_its_segment_run_and_the_parent_killed(
    tmp_path: Path, tracking_uri: str
) -> None:
    """What a spawned worker does when its walk-forward process is SIGKILLed: its in-flight
    segment run and the parent run end KILLED, saying why."""
    config = tiny_walkforward(tmp_path, tracking_uri)
    parent = create_parent_run(EXPERIMENT, "walkforward-wf-test", {}, {})
    open_parent_run(parent)
    ctx = JobContext(config, (), "sqlite://", tracking_uri, parent)
    client = mlflow.tracking.MlflowClient()
    experiment = client.get_run(parent).info.experiment_id
    tags = {**process_tags(), "mlflow.parentRunId": parent}  # a segment run of this worker
    child = client.create_run(experiment, tags=tags).info.run_id
    ended = _on_orphan(ctx, 12345)()
    assert set(ended) == {child, parent}
    for run_id in (child, parent):
        ended_run = client.get_run(run_id)
        assert ended_run.info.status == "KILLED"
        assert "walk-forward process 12345 was killed" in ended_run.data.tags["btcrl.end_reason"]


@pytest.mark.slow
def test_worker_whose_parent_dies_while_it_starts_ends_the_parent_killed(
    tmp_path: Path, tracking_uri: str
) -> None:
    """A spawned worker whose walk-forward process is already gone while it imports torch,
    SB3 and MLflow (tens of seconds on a loaded machine): it still ends the parent run
    KILLED. Its start used to import before watching, so the interrupt landed outside the
    worker's loop and the escaping KeyboardInterrupt ended the process, its watcher with it,
    before anyone ended the run."""
    config = tiny_walkforward(tmp_path, tracking_uri)
    parent = create_parent_run(EXPERIMENT, "walkforward-wf-test", {}, {})
    open_parent_run(parent)
    ctx = JobContext(config, (), "sqlite://", tracking_uri, parent)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a walk-forward process, gone
    gone.wait()
    (worker,) = spawn_workers(_process_main, [(ctx, gone.pid)], "test")
    worker.join(120)
    assert worker.exitcode in (EXIT_INTERRUPTED, EXIT_ORPHANED)
    ended = mlflow.tracking.MlflowClient().get_run(parent)
    assert ended.info.status == "KILLED"
    assert f"walk-forward process {gone.pid} was killed" in ended.data.tags["btcrl.end_reason"]


def test_cli_names_a_lost_worker_and_counts_its_own_jobs(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 with one error line naming the lost worker; the summary tells the jobs this
    process trained from those the study gained (another process trained 2 of 5)."""
    result = WalkforwardResult(
        name="wf",
        storage="sqlite:///x.db",
        parent_run_id="p",
        segments=[],
        wanted=5,
        trained=3,
        finished=5,
        trained_in_study=5,
        worker_exit_codes=[0, -9],
    )
    monkeypatch.setattr("btcrl.walkforward.run_walkforward", lambda *a, **k: result)
    out = CliRunner().invoke(main, ["walkforward", "--data-dir", str(tmp_path / "data")])
    assert out.exit_code == 1, out.output
    assert "(trained by this process 3, in the study meanwhile 5)" in out.output
    errors = [line for line in out.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "worker 1 of 2 was killed by SIGKILL" in errors[0]


def _runs(stage: str) -> list[mlflow.entities.Run]:
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    return mlflow.tracking.MlflowClient().search_runs(
        [experiment.experiment_id], filter_string=f"tags.`btcrl.stage` = '{stage}'"
    )


def _running() -> list[str]:
    return [
        r.info.run_id
        for r in [*_runs("train"), *_runs("walkforward")]
        if r.info.status == "RUNNING"
    ]


def _wait(check: Callable[[], bool], what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.5)


@pytest.mark.slow
def test_sigkilled_walkforward_leaves_no_run_running(tmp_path: Path, tracking_uri: str) -> None:
    """``kill -9`` of a walk-forward with two spawned workers: the workers end their segment
    runs and the parent run KILLED before they exit."""
    config = tiny_walkforward(tmp_path, tracking_uri)
    args = [str(Path(sys.executable).parent / "btcrl"), "walkforward", "--workers", "2"]
    values = {
        **{
            k: v
            for k, v in flatten_config(config).items()
            if k.split(".")[0] in _SECTIONS and v != "None"
        },
        "train.total_timesteps": "1000000",  # still training when it is killed
    }
    for key, value in values.items():
        args += ["--set", f"{key}={value}"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: any(r.info.status == "RUNNING" for r in _runs("train")), "a segment run")
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _wait(lambda: not _running(), f"no run RUNNING (still: {_running()})", 60)
    parent = _parent()
    assert parent.info.status == "KILLED"
    assert str(proc.pid) in parent.data.tags["btcrl.end_reason"]
    assert {r.info.status for r in _runs("train")} == {"KILLED"}


_SECTIONS = ("tracking", "data", "features", "train", "env", "agent", "walkforward")


def test_orphaned_worker_takes_no_further_job(tmp_path: Path, tracking_uri: str) -> None:
    """A worker whose walk-forward process is gone takes no waiting job, even if the
    watcher's interrupt was lost: a run started then would outlive the worker's clean-up."""
    import optuna

    config = tiny_walkforward(tmp_path, tracking_uri)
    storage = f"sqlite:///{tmp_path / 'wf.db'}"
    study = optuna.create_study(study_name=config.walkforward.name, storage=storage)
    study.enqueue_trial({"segment": 0, "seed": 0})
    ctx = JobContext(config, (), storage, tracking_uri, "p")
    assert run_worker(ctx, orphaned=lambda: True) == 0
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1
    assert _runs("train") == []


def test_orphan_clean_up_is_tried_again_when_the_store_is_locked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sibling workers end their runs in the same second and sqlite answers "database is
    locked" to some: the hand-over process tries again, and gives up (False) after its tries;
    the worker itself tries once, then hands over."""
    import sqlite3

    from btcrl.jobs import processes

    monkeypatch.setattr(processes, "ORPHAN_RETRY_S", 0.0)
    calls: list[int] = []

    def locked_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")

    assert processes.retry_orphan_runs(locked_twice) is True
    assert len(calls) == 3
    calls.clear()

    def always_locked() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    assert processes.retry_orphan_runs(always_locked, tries=5) is False
    assert len(calls) == 5
    calls.clear()
    # from the worker: one try, then the hand-over; a local function cannot be pickled for
    # it, which is logged, not raised (the watcher must still reach its hard exit)
    assert processes.end_orphan_runs(always_locked) is False
    assert len(calls) == 1


_LOCKING_WORKER = """
import functools, os, socket, sqlite3, sys
import mlflow
from btcrl.jobs import processes
from btcrl.tracking import end_orphaned_runs
uri = sys.argv[1]
client = mlflow.tracking.MlflowClient(uri)
experiment = client.create_experiment("orphans")
tags = {"btcrl.pid": str(os.getpid()), "btcrl.host": socket.gethostname()}
parent = client.create_run(experiment).info.run_id
child = client.create_run(experiment, tags=tags).info.run_id
print(parent, child, flush=True)
lock = sqlite3.connect(uri.removeprefix("sqlite:///"), timeout=0.1)
lock.execute("BEGIN IMMEDIATE")  # a write of this process that never ends, as an interrupt
lock.execute("UPDATE runs SET name = 'x' WHERE run_uuid = ?", (parent,))  # can leave one
on_orphan = functools.partial(end_orphaned_runs, parent, 1, uri, "walk-forward", os.getpid())
ended = processes.end_orphan_runs(on_orphan)
print("ended here" if ended else "handed over", flush=True)
os._exit(processes.EXIT_ORPHANED)
"""


def test_a_worker_that_locks_the_store_itself_hands_the_clean_up_over(tmp_path: Path) -> None:
    """The flaky SIGKILL test's cause, reproduced: an interrupt inside one of the worker's own
    sqlite writes leaves the lock held until the process exits, so no clean-up from inside
    it can succeed. The worker hands it to a process that ends the runs KILLED once the
    worker is gone (real sqlite MLflow store)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.tracking.MlflowClient(uri).search_experiments()  # the schema, before the worker
    out = subprocess.run(
        [sys.executable, "-c", _LOCKING_WORKER, uri], capture_output=True, text=True, timeout=300
    )
    lines = out.stdout.split("\n")
    assert out.returncode == EXIT_ORPHANED, out.stderr[-2000:]
    assert lines[1] == "handed over", out.stdout
    parent, child = lines[0].split()
    client = mlflow.tracking.MlflowClient(uri)
    _wait(lambda: client.get_run(child).info.status != "RUNNING", "the hand-over", 120)
    for run_id in (parent, child):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert "walk-forward process 1 was killed" in run.data.tags["btcrl.end_reason"]
