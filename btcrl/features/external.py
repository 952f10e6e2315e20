"""Daily external series (VIX, S&P 500, dollar index), aligned to base bars causally.

Loading (yfinance with a cache, or ``csv:PATH``) is ``btcrl.data.external``.

Causality: the value of day D (its close) is first visible at the first base bar whose
*close* is at or after D+1 00:00 UTC (US markets close at 20:00-21:00 UTC, so this is a few
hours conservative and needs no exchange calendar), then forward-filled over weekends and
holidays until the next trading day's value becomes visible.

Columns: ``vix`` = log(VIX / 20) (a level, about -0.7 .. 1.4); ``spx_ret`` and ``dxy_ret`` =
the daily log return in percent (close of D over the previous trading day).
"""

import numpy as np
import pandas as pd

NS_PER_DAY = 86_400 * 1_000_000_000


def column_name(name: str) -> str:
    """Observation column of an external series: ``vix``, ``spx_ret``, ``dxy_ret``."""
    return "vix" if name == "vix" else f"{name}_ret"


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
