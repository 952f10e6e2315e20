"""Run lifecycle: start or adopt a run with btcrl's tags, end it with a reason, log params."""

import contextlib
import logging
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
import mlflow.system_metrics
from mlflow.entities import RunStatus

from btcrl.config.redact import redact
from btcrl.errors import interruption
from btcrl.tracking import tags as tag
from btcrl.tracking.stale import mark_stale_runs, process_tags
from btcrl.tracking.store import (
    ensure_experiment,
    guard_store,
    set_experiment_kind,
    store_errors,
    store_failure,
)

log = logging.getLogger(__name__)

#: seconds between system-metric samples unless MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL is set
#: (MLflow's 10 s default shows nothing for a short run)
SYSTEM_METRICS_INTERVAL_S = 3
_PARAMS_PER_CALL = 100  # MLflow's cap on params per batch


def git_commit(path: Path | None = None) -> str | None:
    """The HEAD commit of the repository at ``path`` (cwd by default), or None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def start_run(
    experiment: str,
    stage: str,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    *,
    killed_on: tuple[type[BaseException], ...] = (),
    log_system_metrics: bool | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under ``mlflow run``, adopt via MLFLOW_RUN_ID) a run with btcrl's tags.

    The run ends FINISHED on success, FAILED on an exception and KILLED on Ctrl-C or on an
    exception of a type in ``killed_on`` (e.g. the tuner's prune signal), so no run is left
    RUNNING by a clean failure; the exception's first line is kept in tag ``btcrl.end_reason``
    (the one tag that says why a run ended) unless the caller set one. Runs left RUNNING by
    dead processes of this host (SIGKILL) are marked KILLED first
    (:func:`btcrl.tracking.stale.mark_stale_runs`).
    ``log_system_metrics``: CPU/memory sampling (None = MLflow's default).
    """
    with store_errors():
        experiment_id = ensure_experiment(experiment)
        try:
            mark_stale_runs(experiment_id)
        except mlflow.exceptions.MlflowException as exc:  # never block a new run on cleanup
            log.warning("could not check for stale runs: %s", redact(str(exc)))
        if log_system_metrics and "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" not in os.environ:
            mlflow.system_metrics.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL_S)
        adopt = os.environ.get("MLFLOW_RUN_ID") if not nested and parent_run_id is None else None
        run = mlflow.start_run(
            run_id=adopt,
            experiment_id=None if adopt else experiment_id,
            run_name=None if adopt else run_name,
            nested=nested or parent_run_id is not None,
            parent_run_id=parent_run_id,
            tags=_run_tags(stage, tags),
            log_system_metrics=log_system_metrics,
        )
        if adopt:
            _adopted(run, run_name, experiment)
    try:
        yield run
    except BaseException as exc:
        interrupt = interruption(exc)
        killed = interrupt is not None or isinstance(exc, killed_on)
        failure = None if interrupt else store_failure(exc, files=False)
        reason = interrupt or failure or exc
        _end(run.info.run_id, RunStatus.KILLED if killed else RunStatus.FAILED, reason)
        if failure is not None and failure is not exc:
            raise failure from exc
        raise
    else:
        with store_errors():
            mlflow.end_run()


def _end(run_id: str, status: int, exc: BaseException) -> None:
    """End the active run with ``status`` and the reason; a store that fails here too (it
    is down) leaves the run as it is: the caller's error says why."""
    _record_end_reason(run_id, exc)
    try:
        mlflow.end_run(RunStatus.to_string(status))
    except Exception as err:
        log.info("could not end run %s: %s", run_id, redact(str(err)))
        with contextlib.suppress(Exception):  # forget it locally all the same
            mlflow.tracking.fluent._active_run_stack.get().clear()


def _run_tags(stage: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """Stage, process (for stale-run checks), git commit, then the caller's tags."""
    all_tags = {tag.STAGE: stage, **process_tags(), **(tags or {})}
    commit = git_commit()
    if commit:
        all_tags.setdefault(tag.GIT_COMMIT, commit)
    return all_tags


def _adopted(run: mlflow.ActiveRun, run_name: str | None, experiment: str) -> None:
    """A run created by ``mlflow run``: tags were set on adoption; name it and adopt once."""
    # mlflow.start_run() reads MLFLOW_RUN_ID itself, so any later run of this process (a
    # trial, a nested backtest, a spawned worker) would take this one over.
    os.environ.pop("MLFLOW_RUN_ID", None)
    if run_name:
        mlflow.set_tag(tag.RUN_NAME, run_name)
    if run.info.experiment_id == "0":
        set_experiment_kind("0")
        log.warning(
            "run %s is in MLflow's Default experiment: pass `--experiment-name %s` to `mlflow run`",
            run.info.run_id,
            experiment,
        )


def _record_end_reason(run_id: str, exc: BaseException) -> None:
    """Tag ``btcrl.end_reason`` with the exception's first line (credentials redacted),
    unless already set."""
    try:
        client = mlflow.tracking.MlflowClient()
        if tag.END_REASON in client.get_run(run_id).data.tags:
            return
        text = redact(str(exc)).strip().splitlines()
        reason = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        client.set_tag(run_id, tag.END_REASON, reason[:500])
    except Exception as err:  # the original exception matters more
        log.info("could not record why run %s ended: %s", run_id, redact(str(err)))


@guard_store
def log_params(params: Mapping[str, object], prefix_on_conflict: str = "btcrl.") -> None:
    """Log ``params`` to the active run, keeping params that are already there.

    Under ``mlflow run`` the run already holds the entry point's parameters (``seed=''`` when
    left empty); MLflow refuses to change a param, so a key already logged with another value
    is logged again as ``<prefix_on_conflict><key>`` with the resolved value.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_params needs an active run")
    existing = mlflow.tracking.MlflowClient().get_run(run.info.run_id).data.params
    resolved: dict[str, str] = {}
    for key, raw in params.items():
        value = str(raw)
        if key not in existing:
            resolved[key] = value
        elif existing[key] != value:
            resolved[f"{prefix_on_conflict}{key}"] = value
    items = list(resolved.items())
    for i in range(0, len(items), _PARAMS_PER_CALL):
        mlflow.log_params(dict(items[i : i + _PARAMS_PER_CALL]))


def active_run_id() -> str:
    """The id of the active run; RuntimeError if there is none."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run")
    return str(run.info.run_id)


def end_orphaned_runs(
    parent_run_id: str,
    parent_pid: int,
    tracking_uri: str | None = None,
    command: str = "tune",
    worker_pid: int | None = None,
) -> list[str]:
    """For a worker whose ``command`` process ``parent_pid`` is gone (even SIGKILLed): end KILLED,
    with the reason, the RUNNING runs of process ``worker_pid`` (default: this one; its
    in-flight trial) in the experiment of ``parent_run_id``, and that parent run too if still
    RUNNING (nobody else will). Called from the worker's watcher thread, so it cannot rely on
    the main thread's active run, or from the process it handed the clean-up to.
    Returns the ids it ended."""
    worker_pid = os.getpid() if worker_pid is None else worker_pid
    client = mlflow.tracking.MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    mine = client.search_runs(
        [parent.info.experiment_id],
        filter_string=(
            f"attributes.status = 'RUNNING' and tags.`{tag.PID}` = '{worker_pid}' "
            f"and tags.`{tag.HOST}` = '{socket.gethostname()}'"
        ),
        max_results=100,
    )
    reason = f"{command} process {parent_pid} was killed; worker {worker_pid} stopped its run"
    ended = []
    for run in [*mine, parent]:
        if run.info.status != "RUNNING":
            continue
        client.set_tag(run.info.run_id, tag.END_REASON, reason)
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        ended.append(run.info.run_id)
    return ended
