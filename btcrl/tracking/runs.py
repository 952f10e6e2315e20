"""Tracking store resolution and run lifecycle (DESIGN.md, "MLflow layout")."""

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
import mlflow.system_metrics
from mlflow.entities import RunStatus

from btcrl.config import TrackingConfig
from btcrl.tracking.stale import END_REASON_TAG, mark_stale_runs, process_tags

log = logging.getLogger(__name__)

STAGE_TAG = "btcrl.stage"
DATA_HASH_TAG = "btcrl.data_hash"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
DEFAULT_STORE_DIR = "mlruns"
#: seconds between system-metric samples unless MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL is set
#: (MLflow's 10 s default shows nothing for a short run)
SYSTEM_METRICS_INTERVAL_S = 3


def default_tracking_uri(project_dir: Path) -> str:
    """The embedded store: ``sqlite:///<project>/mlruns/mlflow.db``."""
    store = project_dir.resolve() / DEFAULT_STORE_DIR
    return f"sqlite:///{store / 'mlflow.db'}"


def configure_tracking(config: TrackingConfig, project_dir: Path | None = None) -> str:
    """Point MLflow at ``config.uri``, else MLFLOW_TRACKING_URI, else the embedded store.

    Creates ``mlruns/`` for the embedded store. Returns the URI in use.
    """
    project_dir = project_dir or Path.cwd()
    uri = config.uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(project_dir)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return uri


def _artifact_root(uri: str) -> str | None:
    """Artifacts beside a local sqlite store (``<store dir>/artifacts``); None = server default."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()


def ensure_experiment(name: str) -> str:
    """The id of experiment ``name``, created (with a local artifact root) if missing."""
    if not name or name == "Default":
        raise ValueError("btcrl logs to named experiments only")
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    root = _artifact_root(mlflow.get_tracking_uri())
    location = f"{root}/{name}" if root else None
    try:
        return str(mlflow.create_experiment(name, artifact_location=location))
    except mlflow.exceptions.MlflowException:
        # another process created it between our look-up and create
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


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
    exception of a type in ``killed_on`` (e.g. ``optuna.TrialPruned``), so no run is left
    RUNNING by a clean failure; the exception's first line is kept in tag ``btcrl.end_reason``
    unless the caller set one. Runs left RUNNING by dead processes of this host (SIGKILL) are
    marked KILLED first (:func:`btcrl.tracking.stale.mark_stale_runs`).
    ``log_system_metrics``: CPU/memory sampling (None = MLflow's default).
    """
    experiment_id = ensure_experiment(experiment)
    try:
        mark_stale_runs(experiment_id)
    except mlflow.exceptions.MlflowException as exc:  # never block a new run on cleanup
        log.warning("could not check for stale runs: %s", exc)
    all_tags = {STAGE_TAG: stage, **process_tags(), **(tags or {})}
    if log_system_metrics and "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" not in os.environ:
        mlflow.system_metrics.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL_S)
    commit = git_commit()
    if commit:
        all_tags.setdefault(GIT_COMMIT_TAG, commit)
    adopt = os.environ.get("MLFLOW_RUN_ID") if not nested and parent_run_id is None else None
    run = mlflow.start_run(
        run_id=adopt,
        experiment_id=None if adopt else experiment_id,
        run_name=None if adopt else run_name,
        nested=nested or parent_run_id is not None,
        parent_run_id=parent_run_id,
        tags=all_tags,
        log_system_metrics=log_system_metrics,
    )
    if adopt:  # the run was created by `mlflow run`; tags were set on adoption
        # Adopt once: mlflow.start_run() reads MLFLOW_RUN_ID itself, so any later run of this
        # process (a trial, a nested backtest, a spawned worker) would take this one over.
        os.environ.pop("MLFLOW_RUN_ID", None)
        if run_name:
            mlflow.set_tag("mlflow.runName", run_name)
        if run.info.experiment_id == "0":
            log.warning(
                "run %s is in MLflow's Default experiment: pass `--experiment-name %s` to "
                "`mlflow run`",
                run.info.run_id,
                experiment,
            )
    try:
        yield run
    except BaseException as exc:
        killed = isinstance(exc, (KeyboardInterrupt, *killed_on))
        _record_end_reason(run.info.run_id, exc)
        status = RunStatus.KILLED if killed else RunStatus.FAILED
        mlflow.end_run(RunStatus.to_string(status))
        raise
    else:
        mlflow.end_run()


def _record_end_reason(run_id: str, exc: BaseException) -> None:
    """Tag ``btcrl.end_reason`` with the exception's first line, unless already set."""
    try:
        client = mlflow.tracking.MlflowClient()
        if END_REASON_TAG in client.get_run(run_id).data.tags:
            return
        text = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        client.set_tag(run_id, END_REASON_TAG, reason[:500])
    except Exception as err:  # the original exception matters more
        log.warning("could not record why run %s ended: %s", run_id, err)


def log_params(params: Mapping[str, str], prefix_on_conflict: str = "btcrl.") -> None:
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
    for key, value in params.items():
        if key not in existing:
            resolved[key] = value
        elif existing[key] != value:
            resolved[f"{prefix_on_conflict}{key}"] = value
    if resolved:
        mlflow.log_params(resolved)
