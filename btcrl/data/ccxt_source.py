"""``ccxt``: paginated OHLCV downloads from any ccxt exchange, with bounded retries.

The only module of btcrl that talks to an exchange. Bars are requested at the exchange's
page limit from ``since`` onwards; each page moves ``since`` past its last bar, short pages
included, until the range end or an empty page. Transient faults (``NetworkError`` and its
subclasses ``RateLimitExceeded``, ``ExchangeNotAvailable``, ``RequestTimeout``) are retried
with exponential backoff and jitter; after ``max_retries`` an ``ExchangeError`` names the
range that was not fetched. Bars that have not closed yet are never returned.
"""

import difflib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt
import pandas as pd

from btcrl.config import DataConfig
from btcrl.data.columns import OHLCV, TIME
from btcrl.data.manifest import Range, ms_to_iso
from btcrl.data.timeframes import timeframe_ms
from btcrl.errors import ConfigError, ExchangeError

log = logging.getLogger(__name__)

T = TypeVar("T")
#: ``progress(done, total)``: grid bars fetched so far of all asked for
Progress = Callable[[int, int], None]
DEFAULT_PAGE_LIMIT = 500
MAX_BACKOFF_S = 60.0
_WEEK_OFFSET_MS = 4 * 86_400_000  # weekly bars open on Mondays; 1970-01-01 was a Thursday
TRANSIENT = (ccxt.NetworkError,)  # RateLimitExceeded, ExchangeNotAvailable, RequestTimeout, ...


@dataclass
class FetchResult:
    """Raw bars of all requested ranges (unvalidated) and the number of HTTP requests made."""

    frame: pd.DataFrame
    requests: int


class _Counter:
    def __init__(self) -> None:
        self.requests = 0


def requested_range(config: DataConfig, have: list[Range], now_ms: int | None = None) -> Range:
    """Bar open times (ms, inclusive, on the grid) that ``config`` asks for.

    ``start`` None means the stored coverage's start, or the exchange's whole history on an
    empty store; ``end`` None (or a future day) means the last bar that has closed.
    """
    step = timeframe_ms(config.timeframe)
    offset = _WEEK_OFFSET_MS if config.timeframe.endswith("w") else 0
    end = last_closed_bar(config.timeframe, now_ms)
    if config.end is not None:
        end = min(end, _align_down(_day_ms(config.end) + 86_400_000 - 1, step, offset))
    if config.start is not None:
        start = _align_up(_day_ms(config.start), step, offset)
    elif have:
        start = have[0][0]
    else:
        start = _align_up(0, step, offset)
    return start, end


def last_closed_bar(timeframe: str, now_ms: int | None = None) -> int:
    """Open time (ms) of the newest bar that has closed at ``now_ms`` (default: now)."""
    step = timeframe_ms(timeframe)
    offset = _WEEK_OFFSET_MS if timeframe.endswith("w") else 0
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _align_down(now_ms, step, offset) - step


def api_credentials(exchange_id: str) -> dict[str, str]:
    """ccxt ``apiKey`` / ``secret`` / ``password`` from the environment only (never the config,
    so they cannot reach a logged param or ``config.yaml``): ``BTCRL_<EXCHANGE>_API_KEY``,
    ``..._API_SECRET``, ``..._API_PASSWORD`` (e.g. ``BTCRL_BINANCE_API_KEY``). Public
    candles need none; an empty dict when unset."""
    prefix = f"BTCRL_{exchange_id.upper()}_API_"
    names = {"apiKey": "KEY", "secret": "SECRET", "password": "PASSWORD"}
    found = {field: os.environ.get(prefix + env, "") for field, env in names.items()}
    return {field: value for field, value in found.items() if value}


def check_exchange_id(exchange_id: str) -> None:
    """ConfigError naming close matches when ccxt does not know ``exchange_id`` (checked
    before the store is touched: a misspelt id leaves no folder behind)."""
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"exchange {exchange_id!r} is unknown to ccxt; {hint}"
            f"{len(ccxt.exchanges)} ids are known, e.g. binance, bybit, coinbase, kraken, okx"
        )


def open_exchange(config: DataConfig, counter: _Counter | None = None) -> Any:
    """A ccxt exchange for ``config``, markets loaded, symbol and timeframe checked.

    Raises ConfigError at once for an unknown exchange, a symbol it does not list or a
    timeframe it lacks (naming close matches / the valid choices), ExchangeError when the
    markets cannot be loaded after retries.
    """
    exchange_id = config.exchange
    check_exchange_id(exchange_id)
    options: dict[str, Any] = {"enableRateLimit": True, "timeout": config.timeout_ms}
    if config.rate_limit_ms is not None:
        options["rateLimit"] = config.rate_limit_ms
    options.update(api_credentials(exchange_id))
    exchange = getattr(ccxt, exchange_id)(options)
    if config.api_url:
        _override_urls(exchange, config.api_url)
    _only_spot_markets(exchange, config.symbol)
    if not exchange.has.get("fetchOHLCV"):
        raise ConfigError(f"exchange {exchange_id!r} does not offer OHLCV candles in ccxt")
    timeframes = dict(exchange.timeframes or {})
    if timeframes and config.timeframe not in timeframes:
        raise ConfigError(
            f"timeframe {config.timeframe!r} is not offered by {exchange_id}; "
            f"choose one of {', '.join(timeframes)}"
        )
    counter = counter or _Counter()
    what = f"loading {exchange_id} markets"
    markets = _with_retries(lambda: exchange.load_markets(), config, counter, what)
    if config.symbol not in markets:
        close = difflib.get_close_matches(config.symbol, list(markets), n=5, cutoff=0.6)
        hint = f"close matches: {', '.join(close)}" if close else f"{len(markets)} markets listed"
        raise ConfigError(f"symbol {config.symbol!r} is not listed on {exchange_id}; {hint}")
    return exchange


def fetch_ranges(
    config: DataConfig, ranges: list[Range], progress: Progress | None = None
) -> FetchResult:
    """Download the bars of ``ranges`` (ms, inclusive open times) for ``config``'s market;
    ``progress(done, total)`` in grid bars after every page (the CLI draws the bar)."""
    counter = _Counter()
    exchange = open_exchange(config, counter)
    step = timeframe_ms(config.timeframe)
    total = sum((b - a) // step + 1 for a, b in ranges)
    done = 0

    def advance(bars: int) -> None:
        nonlocal done
        done += bars
        if progress is not None:
            progress(done, total)

    rows: list[list[Any]] = []
    for first, last in ranges:
        rows.extend(_fetch_range(exchange, config, first, last, counter, advance))
    frame = pd.DataFrame(rows, columns=["ts", *OHLCV])
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], unit="ms", utc=True), name=TIME)
    candles = frame[list(OHLCV)].astype("float64").set_axis(index.as_unit("us"))
    log.info("fetched %d bars in %d requests", len(candles), counter.requests)
    return FetchResult(candles, counter.requests)


def page_limit(exchange: Any) -> int:
    """Most bars one ``fetch_ohlcv`` call returns (ccxt's ``features``; 500 if unknown)."""
    features = getattr(exchange, "features", None) or {}
    spot = features.get("spot") or {}
    limit = (spot.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else DEFAULT_PAGE_LIMIT


def _fetch_range(
    exchange: Any,
    config: DataConfig,
    first: int,
    last: int,
    counter: _Counter,
    advance: Callable[[int], None],
) -> list[list[Any]]:
    step = timeframe_ms(config.timeframe)
    limit_max = page_limit(exchange)
    since = first
    rows: list[list[Any]] = []
    while since <= last:
        limit = int(min(limit_max, (last - since) // step + 1))
        what = f"{config.symbol} {config.timeframe} from {ms_to_iso(since)} to {ms_to_iso(last)}"

        def call(since: int = since, limit: int = limit) -> list[list[Any]]:
            return exchange.fetch_ohlcv(config.symbol, config.timeframe, since=since, limit=limit)

        page = [
            row for row in _with_retries(call, config, counter, what) if since <= row[0] <= last
        ]
        if not page:
            break  # the exchange has nothing from `since` to `last` (an outage or the end)
        rows.extend(page)
        advance((int(page[-1][0]) + step - since) // step)  # grid bars passed, gaps too
        since = int(page[-1][0]) + step
    return rows


def _with_retries(fn: Callable[[], T], config: DataConfig, counter: _Counter, what: str) -> T:
    """Call ``fn``; retry transient faults with exponential backoff and jitter, bounded."""
    attempts = config.max_retries + 1
    for attempt in range(attempts):
        counter.requests += 1
        try:
            return fn()
        except TRANSIENT as exc:
            if attempt + 1 >= attempts:
                raise ExchangeError(
                    f"{config.exchange} failed {attempts} time(s) ({_brief(exc)}); "
                    f"not fetched: {what}"
                ) from None
            delay = min(MAX_BACKOFF_S, config.retry_backoff_s * 2**attempt)
            delay *= 0.5 + random.random()  # jitter: 50% .. 150%
            log.warning("%s: %s; retry %d in %.2fs", what, _brief(exc), attempt + 1, delay)
            time.sleep(delay)
        except ccxt.BadSymbol as exc:
            raise ConfigError(
                f"symbol {config.symbol!r} rejected by {config.exchange}: {_brief(exc)}"
            ) from None
        except ccxt.BaseError as exc:
            raise ExchangeError(
                f"{config.exchange} refused ({_brief(exc)}); not fetched: {what}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _brief(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


def _override_urls(exchange: Any, api_url: str) -> None:
    """Point every REST URL of ``exchange`` at ``api_url`` (scheme://host[:port]), paths kept."""
    base = urlsplit(api_url)
    if not base.scheme or not base.netloc:
        raise ConfigError(f"data.api_url {api_url!r} must look like http://host:port")

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, str) and "://" in node:
            parts = urlsplit(node)
            return parts._replace(scheme=base.scheme, netloc=base.netloc).geturl()
        return node

    exchange.urls = dict(exchange.urls)
    exchange.urls["api"] = rewrite(exchange.urls.get("api", {}))


def _only_spot_markets(exchange: Any, symbol: str) -> None:
    """For a spot symbol, load spot markets only (binance-style ``fetchMarkets.types``)."""
    if ":" in symbol:
        return
    fetch_markets = exchange.options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "spot" in (fetch_markets.get("types") or []):
        exchange.options["fetchMarkets"] = {**fetch_markets, "types": ["spot"]}


def _day_ms(day: date) -> int:
    return int(pd.Timestamp(day, tz="UTC").value // 1_000_000)


def _align_down(ms: int, step: int, offset: int) -> int:
    return offset + (ms - offset) // step * step


def _align_up(ms: int, step: int, offset: int) -> int:
    return offset - ((offset - ms) // step) * step
