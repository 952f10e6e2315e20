"""Daily external series (VIX, S&P 500, dollar index), aligned to base bars causally.

Sources (``ExternalSeriesConfig.source``):

- ``yfinance``: ``^VIX``, ``^GSPC`` or ``DX-Y.NYB`` daily closes, cached as parquet under
  ``<data_dir>/external/<name>.parquet``. The cache is used as is when it reaches the last
  candle's day (minus 4 days of weekend/holiday slack); otherwise it is refreshed, and a
  failed download keeps the old cache and raises ``ExchangeError`` (never a silent zero).
- ``csv:PATH``: a local daily file, in the CBOE layout (``DATE,OPEN,HIGH,LOW,CLOSE`` with
  ``MM/DD/YYYY`` dates, e.g. ``VIX_daily_cboe.csv``, ``SPX_daily_yahoo.csv``) or the Yahoo
  export layout (``Date,Close,High,Low,Open,Volume`` with ISO dates, e.g.
  ``DXY_daily_yahoo.csv``). Columns are matched by name, case-insensitively.

Causality: the value of day D (its close) is first visible at the first base bar whose
*close* is at or after D+1 00:00 UTC (US markets close at 20:00-21:00 UTC, so this is a few
hours conservative and needs no exchange calendar), then forward-filled over weekends and
holidays until the next trading day's value becomes visible. Files from repositories can
end with an incomplete intraday row (see ../shared/data/SOURCES.md); drop such rows from the
file, as a daily close cannot be told apart from a partial one here.

Columns: ``vix`` = log(VIX / 20) (a level, about -0.7 .. 1.4); ``spx_ret`` and ``dxy_ret`` =
the daily log return in percent (close of D over the previous trading day).
"""

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.config.features import ExternalSeriesConfig
from btcrl.errors import DataError, ExchangeError

logger = logging.getLogger(__name__)

YAHOO_TICKERS = {"vix": "^VIX", "spx": "^GSPC", "dxy": "DX-Y.NYB"}
STALE_DAYS = 4  # a series may end this many days before the candles (weekends, holidays)
NS_PER_DAY = 86_400 * 1_000_000_000


def column_name(name: str) -> str:
    """Observation column of an external series: ``vix``, ``spx_ret``, ``dxy_ret``."""
    return "vix" if name == "vix" else f"{name}_ret"


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
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        series.to_frame().to_parquet(tmp)
        tmp.replace(cache)  # atomic: a failed download never replaced the old file
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


def daily_values(name: str, closes: pd.Series) -> pd.Series:
    """The raw per-day value of a series: the close for ``vix``, else the daily log return
    in percent (NaN on its first day)."""
    if name == "vix":
        return closes
    return 100.0 * np.log(closes / closes.shift(1))


def align_daily(values: pd.Series, base_times: pd.DatetimeIndex, base_seconds: int) -> np.ndarray:
    """Per base bar, the latest daily value whose day D satisfies D+1 00:00 UTC <= the bar's
    close (open + ``base_seconds``); NaN before the first such day. Forward-fills gaps."""
    visible_from = values.index.as_unit("ns").asi8 + NS_PER_DAY
    row_close = base_times.as_unit("ns").asi8 + base_seconds * 1_000_000_000
    idx = np.searchsorted(visible_from, row_close, side="right") - 1
    out = np.full(row_close.shape[0], np.nan)
    ok = idx >= 0
    out[ok] = values.to_numpy(np.float64)[idx[ok]]
    return out
