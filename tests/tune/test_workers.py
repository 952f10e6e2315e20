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
