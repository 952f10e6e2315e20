"""Which MLflow store to use, opening it safely, and named experiments."""

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

import mlflow
from filelock import FileLock
from mlflow.tracking import MlflowClient

from btcrl.config import TrackingConfig
from btcrl.tracking import tags

log = logging.getLogger(__name__)

DEFAULT_STORE_DIR = "mlruns"
SQLITE_PREFIX = "sqlite:///"
#: seconds a process waits for another one that is creating the same fresh sqlite store
SCHEMA_LOCK_TIMEOUT_S = 120
#: loggers whose INFO lines (schema migrations, "Created version ...") only show with -v
_CHATTY_LOGGERS = ("mlflow", "alembic")
_opened: set[str] = set()
_wal_listener = False  # the WAL connect hook is registered once per process


def default_tracking_uri(project_dir: Path) -> str:
    """The embedded store: ``sqlite:///<project>/mlruns/mlflow.db``."""
    store = project_dir.resolve() / DEFAULT_STORE_DIR
    return f"{SQLITE_PREFIX}{store / 'mlflow.db'}"


def configure_tracking(config: TrackingConfig, project_dir: Path | None = None) -> str:
    """Point MLflow at ``config.uri``, else MLFLOW_TRACKING_URI, else the embedded store.

    Creates the store's folder and, for sqlite, its schema under a file lock, so that two
    first-ever commands on one fresh store never race to create the same tables. MLflow's
    INFO lines and download bars stay quiet unless the root logger shows INFO (``-v``).
    Returns the URI in use.
    """
    project_dir = project_dir or Path.cwd()
    uri = config.uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(project_dir)
    _quiet_unless_verbose()
    mlflow.set_tracking_uri(uri)
    open_store(uri)
    return uri


def _quiet_unless_verbose() -> None:
    if logging.getLogger().getEffectiveLevel() <= logging.INFO:
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def open_store(uri: str) -> None:
    """Open the store once in this process; a fresh sqlite store gets its schema under
    ``<db>.lock`` (one creator, the others wait and find the tables)."""
    if uri in _opened:
        return
    if uri.startswith(SQLITE_PREFIX):
        db = Path(uri.removeprefix(SQLITE_PREFIX))
        db.parent.mkdir(parents=True, exist_ok=True)
        _sync_less_in_wal()
        with FileLock(str(db) + ".lock", timeout=SCHEMA_LOCK_TIMEOUT_S):
            _use_wal(db)
            MlflowClient(uri).search_experiments(max_results=1)
    _opened.add(uri)


def _use_wal(db: Path) -> None:
    """Put the sqlite file ``db`` (created if missing) in WAL mode, which the file keeps; a
    store another process holds busy keeps its mode (tried again at the next open)."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=1.0)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        log.debug("sqlite store %s stays in its journal mode: %s", db, exc)


def _sync_less_in_wal() -> None:
    """``PRAGMA synchronous=NORMAL`` on every sqlite connection of this process that is in WAL
    mode (registered once). In WAL mode a commit appends to the write-ahead log without an
    fsync; the log is synced at checkpoints. A crashed or killed process loses nothing (the
    log is in the OS's file cache and is replayed on the next open) and the database can
    never be corrupted; only an OS crash or power cut may roll back the last commits before
    it, which leaves a consistent store (sqlite.org/pragma.html#pragma_synchronous). It saves
    an fsync per MLflow write (~3 ms on this machine, 100+ a training run). Connections not
    in WAL mode keep sqlite's default FULL."""
    global _wal_listener
    if _wal_listener:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(connection: object, _record: object) -> None:
        if isinstance(connection, sqlite3.Connection):
            mode = connection.execute("PRAGMA journal_mode").fetchone()
            if mode and str(mode[0]).lower() == "wal":
                connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)
    _wal_listener = True


def tracking_uri() -> str:
    """The URI MLflow uses now."""
    return str(mlflow.get_tracking_uri())


def set_tracking_uri(uri: str) -> None:
    """Point this process (e.g. a spawned worker) at ``uri``, opening it safely."""
    mlflow.set_tracking_uri(uri)
    open_store(uri)


def _artifact_root(uri: str) -> str | None:
    """Artifacts beside a local sqlite store (``<store dir>/artifacts``); None = server default."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return (Path(uri.removeprefix(SQLITE_PREFIX)).parent / "artifacts").resolve().as_uri()


def ensure_experiment(name: str) -> str:
    """The id of experiment ``name``, created (with a local artifact root and MLflow 3's
    classic experiment kind, so the UI opens on the runs table) if missing."""
    if not name or name == "Default":
        raise ValueError("btcrl logs to named experiments only")
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        if tags.EXPERIMENT_KIND not in experiment.tags:
            set_experiment_kind(str(experiment.experiment_id))
        return str(experiment.experiment_id)
    root = _artifact_root(mlflow.get_tracking_uri())
    location = f"{root}/{name}" if root else None
    kind = {tags.EXPERIMENT_KIND: tags.CLASSIC_EXPERIMENT_KIND}
    try:
        return str(mlflow.create_experiment(name, artifact_location=location, tags=kind))
    except mlflow.exceptions.MlflowException:
        # another process created it between our look-up and create
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def set_experiment_kind(experiment_id: str) -> None:
    """Tag an experiment for MLflow 3's classic view (also the Default one ``mlflow run``
    may put a run in)."""
    try:
        MlflowClient().set_experiment_tag(
            experiment_id, tags.EXPERIMENT_KIND, tags.CLASSIC_EXPERIMENT_KIND
        )
    except mlflow.exceptions.MlflowException as exc:
        log.warning("could not tag experiment %s: %s", experiment_id, exc)
