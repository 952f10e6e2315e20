"""Which MLflow store to use, opening it safely, and named experiments."""

import contextlib
import errno
import functools
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import mlflow
import requests
from filelock import FileLock
from filelock import Timeout as LockTimeout
from mlflow.tracking import MlflowClient

from btcrl.config import TrackingConfig
from btcrl.config.redact import redact
from btcrl.errors import ConfigError, TrackingError
from btcrl.tracking import tags

log = logging.getLogger(__name__)

DEFAULT_STORE_DIR = "mlruns"
SQLITE_PREFIX = "sqlite:///"
#: what MLflow 3 uses (and ``mlflow run`` passes on) when no tracking URI is set
MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"
#: seconds a process waits for another one that is creating the same fresh sqlite store
SCHEMA_LOCK_TIMEOUT_S = 120
#: loggers whose INFO lines (schema migrations, "Created version ...") only show with -v
_CHATTY_LOGGERS = ("mlflow", "alembic")
_opened: set[str] = set()
_wal_listener = False  # the WAL connect hook is registered once per process
#: errno values of a file system that cannot hold the store (full, read-only, gone, denied)
_STORE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EIO,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.ENOENT,
    errno.EEXIST,
}
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
F = TypeVar("F", bound=Callable[..., Any])


def default_tracking_uri(project_dir: Path) -> str:
    """The embedded store: ``sqlite:///<project>/mlruns/mlflow.db``."""
    store = project_dir.resolve() / DEFAULT_STORE_DIR
    return f"{SQLITE_PREFIX}{store / 'mlflow.db'}"


def configure_tracking(config: TrackingConfig, project_dir: Path | None = None) -> str:
    """Point MLflow at ``config.uri``, else MLFLOW_TRACKING_URI, else the embedded store.

    Creates the store's folder and, for sqlite, its schema under a file lock, so that two
    first-ever commands on one fresh store never race to create the same tables. MLflow's
    INFO lines stay quiet unless the root logger shows INFO (``-v``; its download bars: the CLI).
    Returns the URI in use.
    """
    project_dir = project_dir or Path.cwd()
    uri = resolve_tracking_uri(config, project_dir)
    if not config.uri:
        check_not_mlflow_default(uri, project_dir)
    _quiet_unless_verbose()
    mlflow.set_tracking_uri(uri)
    ensure_store(uri)
    return uri


def resolve_tracking_uri(config: TrackingConfig, project_dir: Path | None = None) -> str:
    """The URI :func:`configure_tracking` uses (``config.uri``, else MLFLOW_TRACKING_URI,
    else the project's store), without opening or creating anything."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return config.uri or env or default_tracking_uri(project_dir or Path.cwd())


def check_not_mlflow_default(uri: str, project_dir: Path) -> None:
    """Refuse MLflow's own default store (``sqlite:///mlflow.db`` in the working directory),
    which ``mlflow run`` hands to its command when no tracking URI is set: the run would land
    in a second store with its own registry. One line naming the fix (ConfigError)."""
    if uri != MLFLOW_DEFAULT_URI or not os.environ.get("MLFLOW_RUN_ID"):
        return
    raise ConfigError(
        f"MLflow's default store {uri} is not the project's: export "
        f"MLFLOW_TRACKING_URI={default_tracking_uri(project_dir)} (activating .venv does)"
    )


def study_storage_beside(uri: str, study: str, project_dir: Path | None = None) -> str | None:
    """The default Optuna storage of ``study`` beside the sqlite tracking store ``uri``:
    ``sqlite:///<store dir>/studies/<study>.db``, so that a fresh tracking store never meets
    a stale study. None for the project's own store (its studies stay in ``studies/``) and
    for a tracking server (pass a storage URL)."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    db = Path(uri.removeprefix(SQLITE_PREFIX)).resolve()
    if db == (project_dir or Path.cwd()).resolve() / DEFAULT_STORE_DIR / "mlflow.db":
        return None
    return f"{SQLITE_PREFIX}{db.parent / 'studies' / f'{study}.db'}"


def _quiet_unless_verbose() -> None:
    if logging.getLogger().getEffectiveLevel() <= logging.INFO:
        return
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_store(uri: str) -> None:
    """Open the store once in this process; a fresh sqlite store gets its schema under
    ``<db>.lock`` (one creator, the others wait and find the tables).

    Raises TrackingError (one line naming the store and the cause) when the store cannot be
    opened: a path that is a directory, a read-only or full disk, a server that is down."""
    if uri in _opened:
        return
    with store_errors(uri):
        if uri.startswith(SQLITE_PREFIX):
            db = Path(uri.removeprefix(SQLITE_PREFIX))
            if db.is_dir():
                raise TrackingError(f"tracking store {redact(uri)}: {db} is a directory")
            folder = next((p for p in db.parents if p.exists()), None)
            if folder is not None and not folder.is_dir():
                raise TrackingError(f"tracking store {redact(uri)}: {folder} is not a folder")
            db.parent.mkdir(parents=True, exist_ok=True)
            _sync_less_in_wal()
            with FileLock(str(db) + ".lock", timeout=SCHEMA_LOCK_TIMEOUT_S):
                _use_wal(db)
                MlflowClient(uri).search_experiments(max_results=1)
        else:
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


def store_failure(
    exc: BaseException, uri: str | None = None, *, files: bool = True
) -> TrackingError | None:
    """``exc`` as one TrackingError line naming the store (credentials redacted) and the
    cause, when it comes from the tracking store: MLflow's own errors, HTTP errors, a file
    lock that timed out, or a file system error (disk full, read-only, denied). Else None.

    ``files=False`` leaves file system errors out (for code that does more than tracking: an
    OSError there need not be the store's)."""
    if isinstance(exc, TrackingError):
        return exc
    if not files and isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
        return None
    cause = _store_cause(exc)
    if cause is None:
        return None
    where = redact(uri or str(mlflow.get_tracking_uri()))
    return TrackingError(f"tracking store {where}: {redact(cause)}"[:600])


def _store_cause(exc: BaseException) -> str | None:
    """The cause in a few words, or None when ``exc`` is not a store failure."""
    if isinstance(exc, OSError) and exc.errno in _STORE_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, LockTimeout):
        return f"another process holds {exc.lock_file} (waited {SCHEMA_LOCK_TIMEOUT_S} s)"
    if isinstance(exc, mlflow.exceptions.MlflowException | requests.RequestException):
        text = str(exc)
        found = _ERRNO_TEXT.findall(text)
        if "Max retries exceeded" in text or found:
            return f"cannot reach it: {found[-1].strip() if found else 'no answer'}"
        lines = text.strip().splitlines()
        return lines[0] if lines else type(exc).__name__
    return None


@contextlib.contextmanager
def store_errors(uri: str | None = None) -> Iterator[None]:
    """Turn a store failure raised inside the block into a one-line TrackingError."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        failure = store_failure(exc, uri)
        if failure is None:
            raise
        raise failure from exc


def guard_store(func: F) -> F:
    """Decorate a function that reads or writes the tracking store: its store failures come
    out as one-line TrackingErrors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrackingError:
            raise
        except Exception as exc:
            failure = store_failure(exc)
            if failure is None:
                raise
            raise failure from exc

    return wrapper  # type: ignore[return-value]


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """The folder of a ``file://`` artifact URI (None for remote artifact stores)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("file", ""):
        return None
    return Path(unquote(parsed.path))


def tracking_uri() -> str:
    """The URI MLflow uses now."""
    return str(mlflow.get_tracking_uri())


def set_tracking_uri(uri: str) -> None:
    """Point this process (e.g. a spawned worker) at ``uri``, opening it safely."""
    mlflow.set_tracking_uri(uri)
    ensure_store(uri)


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
