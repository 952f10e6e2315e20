"""Optuna storage: URL defaults, early validation, heartbeats and retry of lost trials."""

import importlib.util
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from btcrl.config import TuneConfig
from btcrl.errors import ConfigError

log = logging.getLogger(__name__)

STUDIES_DIR = Path("studies")
_DIALECTS = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
SQLITE_TIMEOUT_S = 60.0
SCHEMA_RACE_RETRIES = 3  # workers that open one fresh storage at once race to create it

StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


def default_storage_url(study: str, root: Path | None = None) -> str:
    """``sqlite:///<root>/studies/<study>.db`` (root = cwd), as an absolute path."""
    base = (root or Path.cwd()).resolve() / STUDIES_DIR
    return f"sqlite:///{base / f'{study}.db'}"


def redact_url(url: str) -> str:
    """The URL with any password hidden, fit for logs and MLflow tags."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable storage URL>"


def resolve_storage_url(config: TuneConfig) -> str:
    """The storage URL to use, checked: a known RDB dialect that can be reached.

    Creates nothing: a sqlite file's folder must exist (or only its last level may be
    missing, e.g. ``studies/``: made with the study), and a server must answer. Raises a
    one-line ConfigError naming the URL (password hidden) when it cannot be parsed, names an
    unknown dialect, a missing folder, or cannot connect.
    """
    url = config.storage or default_storage_url(config.study)
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"storage URL {url!r} is not an RDB URL (e.g. sqlite:///studies/x.db, "
            "postgresql://user:pass@host/db)"
        ) from None
    dialect = parsed.get_backend_name()
    if dialect not in _DIALECTS:
        raise ConfigError(
            f"storage URL {shown!r} uses {dialect!r}; expected one of {', '.join(_DIALECTS)}"
        )
    if dialect == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(f"storage URL {shown!r} needs a file (workers share it)")
        _check_sqlite_folder(Path(parsed.database).expanduser(), shown)
        return url
    url = _with_installed_driver(url, parsed.drivername)
    _check_connect(url, shown)
    return url


def _check_sqlite_folder(db: Path, shown: str) -> None:
    """The folder of a sqlite storage file exists, or only its last level is missing (as
    ``studies/`` on a first tune; made with the study), and the file, if there, is a file:
    ConfigError otherwise (a mistyped path never grows a tree of folders)."""
    folder = db.parent
    if db.is_dir():
        raise ConfigError(f"storage URL {shown!r} names a folder, not a database file")
    if folder.is_dir() or folder.parent.is_dir():
        return
    raise ConfigError(f"storage URL {shown!r}: folder {folder.parent} does not exist")


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite storage URL; None for a server."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


def storage_exists(url: str) -> bool:
    """False for a sqlite storage whose file is not there yet (opening it would create an
    empty database): look-ups answer "no such study" without writing anything."""
    db = sqlite_file(url)
    return db is None or db.is_file()


def _with_installed_driver(url: str, drivername: str) -> str:
    """``postgresql://`` names no driver; pick psycopg (3) or psycopg2, whichever is installed."""
    if drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return driver + url[len("postgresql") :]
    raise ConfigError(
        "storage URL needs a PostgreSQL driver: pip install psycopg2-binary (or psycopg)"
    )


def _check_connect(url: str, shown: str) -> None:
    try:
        engine = sqlalchemy.create_engine(url, **_engine_kwargs(url, connect_timeout=10))
    except (ArgumentError, ImportError, SQLAlchemyError, ValueError) as exc:
        raise ConfigError(f"storage URL {shown!r} is unusable: {_first_line(exc)}") from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot connect to storage {shown!r}: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def make_storage(url: str, config: TuneConfig, on_stale: StaleCallback | None = None) -> RDBStorage:
    """An RDBStorage with heartbeats; a trial whose worker died is failed and retried.

    ``on_stale(study, trial)`` runs after Optuna's RetryHeartbeatStaleTrialCallback for each trial
    found stale (used to close the trial's MLflow run).
    """
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=config.max_retry)

    def stale(study: optuna.Study, trial: FrozenTrial) -> None:
        log.warning("trial %d lost its worker (no heartbeat); marked FAILED", trial.number)
        retry(study, trial)
        if on_stale is not None:
            on_stale(study, trial)

    db = sqlite_file(url)
    if db is not None:  # a missing last folder (studies/) is made here, with the study
        db.parent.mkdir(exist_ok=True)
    error: BaseException | None = None
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=config.heartbeat_interval,
                    grace_period=config.grace_period,
                    heartbeat_stale_trial_callback=stale,
                )
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError, RuntimeError) as exc:
            error = exc
            if not _lost_schema_race(exc):
                break
            # another worker created the schema at the same moment (a fresh storage): the
            # schema exists now, so opening it again succeeds
            time.sleep(0.2 * (attempt + 1))
    raise ConfigError(
        f"storage {redact_url(url)!r} cannot hold an Optuna study: {_first_line(error)}"
    ) from None


def _lost_schema_race(exc: BaseException) -> bool:
    """True for the errors of two processes creating one storage's tables at once: a
    duplicate alembic version row, or a table created by the other process in between."""
    return isinstance(exc, IntegrityError) or "already exists" in str(exc).lower()


def _engine_kwargs(url: str, connect_timeout: int | None = None) -> dict[str, object]:
    """sqlite: wait on locks (several workers write); servers: pre-ping pooled connections."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if connect_timeout is not None and url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    return kwargs


def _first_line(exc: BaseException | None) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
