"""Runs left RUNNING by a process that died without cleaning up (SIGKILL, OOM, power loss).

Every run started by :func:`btcrl.tracking.start_run` carries the host name, the process id and
the process start time as tags. On the next start in the same experiment, RUNNING runs of this
host whose process is gone (or whose pid now belongs to another process) are marked KILLED
with a tag that says why, so the UI never shows a dead run as running.
"""

import logging
import os
import socket

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from btcrl.tracking.tags import END_REASON as END_REASON_TAG
from btcrl.tracking.tags import HOST as HOST_TAG
from btcrl.tracking.tags import PID as PID_TAG
from btcrl.tracking.tags import PID_START as PID_START_TAG

log = logging.getLogger(__name__)


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Host, pid and process start time (seconds since epoch, as text) of ``pid`` (default: us)."""
    pid = os.getpid() if pid is None else pid
    started = _process_start(pid)
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    if started is not None:
        tags[PID_START_TAG] = f"{started:.2f}"
    return tags


def _process_start(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with mlflow's system metrics
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _is_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now_started = _process_start(pid)
    if started is None or now_started is None:
        return True  # the pid exists and we cannot tell whether it was reused
    try:
        return abs(float(started) - now_started) < 1.0
    except ValueError:
        return True


def mark_stale_runs(experiment_id: str, client: MlflowClient | None = None) -> list[str]:
    """Mark KILLED the RUNNING runs of ``experiment_id`` owned by dead processes on this host.

    Returns the ids of the runs it marked. Runs of other hosts are left alone: their
    processes cannot be checked from here.
    """
    client = client or MlflowClient()
    host = socket.gethostname()
    active = mlflow.active_run()
    mine = {active.info.run_id} if active else set()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=1000,
    )
    marked = []
    for run in runs:
        tags = run.data.tags
        try:
            pid = int(tags.get(PID_TAG, ""))
        except ValueError:
            continue
        if run.info.run_id in mine or _is_alive(pid, tags.get(PID_START_TAG)):
            continue
        reason = f"process {pid} on {host} ended without closing the run (killed or crashed)"
        client.set_tag(run.info.run_id, END_REASON_TAG, reason)
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        log.warning("run %s was left RUNNING by a dead process; marked KILLED", run.info.run_id)
        marked.append(run.info.run_id)
    return marked
