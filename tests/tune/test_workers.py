"""Workers stop with the tune process that started them, even when it is SIGKILLed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

_PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from btcrl.jobs.processes import watch_parent

    def child(parent_pid, ready):
        watch_parent(parent_pid, poll_s=0.1)
        open(f"{ready}-{os.getpid()}", "w").close()
        while True:
            time.sleep(0.1)

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=child, args=(os.getpid(), sys.argv[1])) for _ in range(2)]
        for proc in procs:
            proc.start()
        print(" ".join(str(p.pid) for p in procs), flush=True)
        while True:
            time.sleep(1)
    """
)


@pytest.mark.slow  # spawned interpreters import btcrl
def test_sigkilled_parent_takes_its_workers_along(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "ready")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = parent.stdout.readline()  # type: ignore[union-attr]
        children = [psutil.Process(int(pid)) for pid in line.split()]
        assert len(children) == 2 and all(c.is_running() for c in children)
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the children have imported btcrl and watch their parent
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    gone, alive = psutil.wait_procs(children, timeout=5)
    for proc in alive:  # never leave them behind, even when the test fails
        proc.kill()
    assert alive == [] and len(gone) == 2


_TUNE_PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from btcrl.config import ExperimentConfig
    from btcrl.tracking import set_tracking_uri, start_run

    def worker(job, parent_pid, ready):
        from btcrl.tune.workers import watch_tune_process
        set_tracking_uri(job.tracking_uri)
        watch_tune_process(job, parent_pid, poll_s=0.1)
        with start_run("btcrl-tune", "trial", parent_run_id=job.parent_run_id):
            open(ready, "w").close()
            time.sleep(3600)  # like torch's C code: the simulated Ctrl-C never lands

    if __name__ == "__main__":
        from btcrl.tune.workers import WorkerJob
        uri, ready = sys.argv[1], sys.argv[2]
        set_tracking_uri(uri)
        with start_run("btcrl-tune", "tune") as run:
            job = WorkerJob(ExperimentConfig(), None, "sqlite://", uri, run.info.run_id, None)
            proc = mp.get_context("spawn").Process(
                target=worker, args=(job, os.getpid(), ready)
            )
            proc.start()
            print(proc.pid, run.info.run_id, flush=True)
            time.sleep(3600)
    """
)


@pytest.mark.slow  # spawned interpreters import btcrl and MLflow
def test_a_sigkilled_tune_leaves_no_running_run(tmp_path: Path, tracking_uri: str) -> None:
    """kill -9 of tune's main process while a worker's trial is stuck in C code: the worker
    ends its trial's run and the tune's parent run KILLED before it exits (issue 23.8)."""
    import mlflow

    script = tmp_path / "tune_parent.py"
    script.write_text(_TUNE_PARENT)
    ready = tmp_path / "trial-started"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    parent = subprocess.Popen(
        [sys.executable, str(script), tracking_uri, str(ready)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid, parent_run_id = parent.stdout.readline().split()  # type: ignore[union-attr]
        child = psutil.Process(int(pid))
        deadline = time.monotonic() + 180
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists()
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    gone, alive = psutil.wait_procs([child], timeout=60)
    for proc in alive:
        proc.kill()
    assert alive == []
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"KILLED"}
    for run in runs:
        assert "was killed" in run.data.tags["btcrl.end_reason"]
    assert parent_run_id in {r.info.run_id for r in runs}
