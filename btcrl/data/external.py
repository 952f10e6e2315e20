"""Daily external series (VIX, S&P 500, dollar index): download, cache and read.

Network lives here, in ``btcrl/data``; ``btcrl.features.external`` aligns the values causally.

Sources (``ExternalSeriesConfig.source``):

- ``yfinance``: ``^VIX``, ``^GSPC`` or ``DX-Y.NYB`` daily closes, cached as parquet under
  ``<data_dir>/external/<name>.parquet``. The cache is used as is when it reaches the last
  candle's day (minus 4 days of weekend/holiday slack); otherwise it is refreshed, and a
  failed download keeps the old cache and raises ``ExchangeError`` (never a silent zero).
- ``csv:PATH``: a local daily file, in the CBOE layout (``DATE,OPEN,HIGH,LOW,CLOSE`` with
  ``MM/DD/YYYY`` dates, e.g. ``VIX_daily_cboe.csv``, ``SPX_daily_yahoo.csv``) or the Yahoo
  export layout (``Date,Close,High,Low,Open,Volume`` with ISO dates, e.g.
  ``DXY_daily_yahoo.csv``). Columns are matched by name, case-insensitively. Files from
  repositories can end with an incomplete intraday row (see ../shared/data/SOURCES.md); drop
  such rows from the file, as a daily close cannot be told apart from a partial one here.
"""

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.config.features import ExternalSeriesConfig
from btcrl.data.atomic import atomic_write
from btcrl.errors import DataError, ExchangeError

logger = logging.getLogger(__name__)

YAHOO_TICKERS = {"vix": "^VIX", "spx": "^GSPC", "dxy": "DX-Y.NYB", "nasdaq": "^IXIC"}
STALE_DAYS = 4  # a series may end this many days before the candles (weekends, holidays)


def read_daily_csv(path: Path) -> pd.Series:
    """Daily closes from a CBOE- or Yahoo-layout CSV, indexed by UTC midnight of each day.

    Parsed files are memoised by (path, size, modification time)."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise DataError(f"cannot read external series file {path}: {exc}") from None
    return _read_daily_csv(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns).copy()


@functools.lru_cache(maxsize=16)
def _read_daily_csv(path: str, _size: int, _mtime_ns: int) -> pd.Series:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read external series file {path}: {exc}") from None
    columns = {c.strip().lower(): c for c in frame.columns}
    date_col = columns.get("date") or columns.get("datetime")
    close_col = columns.get("close") or columns.get("adj close")
    if date_col is None or close_col is None:
        raise DataError(
            f"external series file {path} needs a DATE and a CLOSE column, "
            f"has {list(frame.columns)}"
        )
    text = frame[date_col].astype(str).str.strip()
    fmt = "%m/%d/%Y" if text.str.contains("/").any() else "ISO8601"
    try:
        days = pd.to_datetime(text, format=fmt, utc=True).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"external series file {path}: bad date in column {date_col}: {exc}"
        ) from None
    values = pd.to_numeric(frame[close_col], errors="coerce").to_numpy(np.float64)
    series = pd.Series(values, index=pd.DatetimeIndex(days, name="day"), name="close")
    return _clean(series, str(path))


def _clean(series: pd.Series, origin: str) -> pd.Series:
    series = series[np.isfinite(series.to_numpy()) & (series.to_numpy() > 0)]
    series = series[~series.index.duplicated(keep="last")].sort_index()
    if series.empty:
        raise DataError(f"external series from {origin} has no usable rows")
    return series


def fetch_yahoo(name: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Daily closes of ``name`` from yfinance in [start, end]; ExchangeError if unreachable."""
    ticker = YAHOO_TICKERS[name]
    yf_logger = logging.getLogger("yfinance")
    level = yf_logger.level
    yf_logger.setLevel(logging.CRITICAL)  # its own retries and errors: we report one line
    try:
        import yfinance as yf

        frame = yf.Ticker(ticker).history(
            start=start.strftime("%Y-%m-%d"),
            end=(end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
            interval="1d",
            auto_adjust=False,
            raise_errors=True,
        )
    except Exception as exc:  # yfinance raises many kinds; all mean "not reachable"
        reason = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise ExchangeError(
            f"cannot download {ticker} ({name}) from yfinance: {type(exc).__name__}: "
            f"{reason} - use source csv:PATH offline"
        ) from None
    finally:
        yf_logger.setLevel(level)
    if frame is None or frame.empty or "Close" not in frame:
        raise ExchangeError(f"yfinance returned no data for {ticker} ({name})")
    days = pd.DatetimeIndex(frame.index).tz_localize(None).normalize().tz_localize("UTC")
    series = pd.Series(frame["Close"].to_numpy(np.float64), index=days.rename("day"), name="close")
    return _clean(series, f"yfinance {ticker}")


def load_external(
    config: ExternalSeriesConfig,
    first_bar: pd.Timestamp,
    last_bar: pd.Timestamp,
    data_dir: Path | None,
) -> pd.Series:
    """The daily closes of one external series covering [first_bar, last_bar]."""
    if config.source.startswith("csv:"):
        series = read_daily_csv(Path(config.source[4:]))
    elif config.source == "yfinance":
        series = _cached_yahoo(config.name, first_bar, last_bar, data_dir)
    else:
        raise DataError(f"external series {config.name}: source {config.source!r} is unknown")
    _check_coverage(series, config, first_bar, last_bar)
    return series


def _cached_yahoo(
    name: str, first_bar: pd.Timestamp, last_bar: pd.Timestamp, data_dir: Path | None
) -> pd.Series:
    cache = None if data_dir is None else Path(data_dir) / "external" / f"{name}.parquet"
    start = first_bar.normalize() - pd.Timedelta(days=30)
    if cache is not None and cache.exists():
        cached = pd.read_parquet(cache)["close"]
        cached.index = pd.DatetimeIndex(cached.index, name="day")
        if cached.index[0] <= start and _fresh(cached, last_bar):
            return cached
        start = min(start, cached.index[0])
    series = fetch_yahoo(name, start, last_bar.normalize())
    if cache is not None:  # atomic, private temp name: a failed write keeps the old file
        atomic_write(cache, series.to_frame().to_parquet, what="external series cache")
    return series


def _fresh(series: pd.Series, last_bar: pd.Timestamp) -> bool:
    return series.index[-1] >= last_bar.normalize() - pd.Timedelta(days=STALE_DAYS)


def _check_coverage(
    series: pd.Series,
    config: ExternalSeriesConfig,
    first_bar: pd.Timestamp,
    last_bar: pd.Timestamp,
) -> None:
    if not _fresh(series, last_bar):
        raise DataError(
            f"external series {config.name} ({config.source}) ends {series.index[-1].date()}, "
            f"but the candles run to {last_bar.date()}"
        )
    if series.index[0] > first_bar + pd.Timedelta(days=STALE_DAYS):
        logger.warning(
            "external series %s starts %s, after the first candle %s: earlier rows stay undefined",
            config.name,
            series.index[0].date(),
            first_bar.date(),
        )
