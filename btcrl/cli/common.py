"""Shared click options and the error boundary of every command."""

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from btcrl.config import ExperimentConfig, load_config
from btcrl.config.redact import RedactingFormatter, redact
from btcrl.errors import BtcrlError, interruption

F = TypeVar("F", bound=Callable[..., Any])

# Data options shared by every command: name -> (click option, config key).
_DATA_KEYS = {
    "source": "data.source",
    "exchange": "data.exchange",
    "symbol": "data.symbol",
    "timeframe": "data.timeframe",
    "start": "data.start",
    "end": "data.end",
    "data_dir": "data.data_dir",
    "time_column": "data.time_column",
}


def config_options(func: F) -> F:
    """``--config FILE`` and repeated ``--set key.path=value``."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config value, e.g. --set env.fee_rate=0.0005 (repeatable).",
        callback=_check_overrides,
    )(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_empty_is_unset,
        help="YAML config file (defaults: configs/default.yaml documents them).",
    )(func)
    return func


def _empty_is_unset(
    _ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    """MLproject passes ``--config ''`` for "no config file"; click turns "" into Path(".").
    A file that does not exist is a usage error (exit 2), as for any bad option."""
    if not value or str(value) in ("", "."):
        return None
    if not value.is_file():
        raise click.BadParameter(f"file {str(value)!r} does not exist")
    return value


def _check_overrides(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """Every ``--set`` is ``key.path=value``: a usage error (exit 2) otherwise."""
    for item in value:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{redact(item)!r} must look like key.path=value")
    return value


def empty_uses_env(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """MLproject passes ``--storage ''`` for "not given"; click then skips the option's env
    var, so read it here (None when neither is set)."""
    if value == "":
        envvar = param.envvar if isinstance(param.envvar, str) else None
        return (os.environ.get(envvar) if envvar else None) or None
    return value


def data_options(func: F) -> F:
    """The data options every data-reading command shares (--source, --symbol, ...); unset ones
    keep the config's values."""
    options = [
        click.option(
            "--source",
            default=None,
            help="sample | ccxt | csv:PATH | stored csv-<stem> / store:<namespace> "
            "(default sample).",
        ),
        click.option("--exchange", default=None, help="ccxt exchange id (default binance)."),
        click.option("--symbol", default=None, help="Market symbol, e.g. BTC/USDT."),
        click.option("--timeframe", default=None, help="Bar length, e.g. 15m, 1h, 4h, 1d."),
        click.option("--start", default=None, metavar="YYYY-MM-DD", help="First UTC day."),
        click.option("--end", default=None, metavar="YYYY-MM-DD", help="Last UTC day (inclusive)."),
        click.option(
            "--data-dir",
            default=None,
            envvar="BTCRL_DATA_DIR",
            help="Store and cache root (env BTCRL_DATA_DIR, default ./data).",
        ),
        click.option(
            "--time-column",
            default=None,
            help="csv:PATH column of bar open times (default: the one that parses).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class BlankableInt(click.ParamType):
    """An integer option that MLproject may pass as ``''`` (meaning: keep the config's value)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "":
            return None
        return click.INT.convert(value, param, ctx)


class BlankableFloat(click.ParamType):
    """A float option that MLproject may pass as ``''`` (meaning: keep the config's value)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "":
            return None
        return click.FLOAT.convert(value, param, ctx)


BLANK_INT = BlankableInt()
BLANK_FLOAT = BlankableFloat()


def option_values(options: dict[str, Any], keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Config key -> the typed value of each explicit command option (not None, not "").

    The values are set as they are, never re-parsed as YAML: ``--time-column "bar time: utc"``
    or ``--time-column 2024`` stay the strings they are."""
    mapping = dict(_DATA_KEYS)
    mapping.update(keys or {})
    return {
        mapping[name]: value
        for name, value in options.items()
        if name in mapping and value not in (None, "")  # MLproject passes "" for unset
    }


def build_experiment_config(
    config_path: Path | None,
    overrides: tuple[str, ...],
    options: dict[str, Any],
    keys: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """Config file <- ``--set`` overrides <- typed ``values`` <- explicit command options
    (those not None)."""
    typed = {**(values or {}), **option_values(options, keys)}
    return load_config(config_path, overrides, typed)


def progress_modes() -> tuple[bool, Callable[[str], None] | None]:
    """(bar, lines): a live bar on a terminal; else one line on stderr every 30 s."""
    if sys.stderr.isatty() and not os.environ.get("CI"):
        return True, None
    return False, lambda line: click.echo(line, err=True)


@contextlib.contextmanager
def progress_bar(desc: str, unit: str) -> Iterator[Callable[..., None] | None]:
    """A tqdm bar on stderr when it is a terminal (not CI), as ``update(done, total,
    **counts)`` for a library's ``progress`` argument; None elsewhere."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=0, desc=desc, unit=unit, file=sys.stderr) as bar:

        def update(done: int, total: int, **counts: int) -> None:
            bar.total, bar.n = total, min(done, total)
            if counts:
                bar.set_postfix(refresh=False, **counts)
            bar.refresh()

        yield update


def handle_errors(func: F) -> F:
    """Turn BtcrlError into one line on stderr (credentials redacted) and exit code 1;
    Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BtcrlError as exc:
            click.echo(f"error: {redact(str(exc))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a signal that surfaced as a library's error on unwinding
            if interruption(exc) is None:
                raise
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: MLflow's HTTP client settings for a tracking server (each one wins when already set): a
#: server that is down fails a command after about 7 s of retries (1 + 2 + 4), not minutes
TRACKING_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def setup_logging(verbose: int) -> None:
    """Configure logging once, at the edge: every record and uncaught traceback redacted;
    bounded waits for a tracking server; MLflow's progress bars off unless ``-v``."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    if verbose <= 0:  # its "Retrying ..." lines precede the one error line that says it all
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        # MLflow's download bars stay off unless -v (spawned workers inherit it)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    sys.excepthook = _redacted_excepthook
    for name, value in TRACKING_HTTP_ENV.items():
        os.environ.setdefault(name, value)


def _redacted_excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """An uncaught exception's traceback, credentials redacted (libraries put URLs with
    user info in their messages)."""
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a container stop) ends the run KILLED like Ctrl-C, not RUNNING."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker_failures(codes: list[int]) -> list[str]:
    """One phrase per worker process that did not exit 0: its number and why (a signal by
    name, or its exit code), e.g. ``worker 1 of 2 was killed by SIGKILL``."""
    phrases = []
    for index, code in enumerate(codes):
        if code == 0:
            continue
        if code < 0:
            try:
                why = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                why = f"was killed by signal {-code}"
        elif code == 130:
            why = "was interrupted"
        else:
            why = f"exited with code {code}"
        phrases.append(f"worker {index} of {len(codes)} {why}")
    return phrases
