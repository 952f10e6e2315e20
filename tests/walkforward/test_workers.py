"""A spawned walk-forward worker ends when the process that spawned it is killed (SIGKILL),
so a killed walk-forward leaves no orphan training behind."""

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from btcrl.jobs.processes import watch_parent


def _orphan(pids: "mp.Queue[int]") -> None:
    watch_parent(poll_s=0.1)
    pids.put(os.getpid())
    time.sleep(120)  # would outlive the test without the watch


def _parent(pids: "mp.Queue[int]") -> None:
    child = mp.get_context("spawn").Process(target=_orphan, args=(pids,))
    child.start()
    child.join()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()  # a zombie waits for init only: it ended
    return stat.split(")")[-1].split()[0] != "Z"


@pytest.mark.slow
def test_worker_exits_when_its_parent_is_killed() -> None:
    spawn = mp.get_context("spawn")
    pids: mp.Queue[int] = spawn.Queue()
    parent = spawn.Process(target=_parent, args=(pids,))
    parent.start()
    worker = pids.get(timeout=60)
    assert _alive(worker)
    assert parent.pid is not None
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)
