"""Other markets as context: candles of another symbol aligned to the base bars by close time.

Alignment (``align_by_close``): at base row t (closing at ``open_t + base``), the context
value is the close of the latest context bar whose own close is at or before that time. A
context bar that is missing (an outage on the context market) is never filled from the
future: the last closed value is held and ``<asset>_age`` says how many base bars old it is.
Rows before the context's first closed bar are NaN.

Columns per candle context ``<a>`` (``ContextFeaturesConfig``), all from aligned closes:

- ``<a>_ret_<h>``: ``ln(C^a_t / C^a_{t-h})`` in % for each horizon h (bars)
- ``<a>_corr``, ``<a>_beta``: trailing correlation and beta (cov / var of the base) of the
  one-bar log returns of ``<a>`` on the base market's, over ``window`` bars
- ``<a>_ratio_ret``: return of the ratio ``C^a / C^base`` over ``ratio_horizon`` bars, in %
- ``<a>_age``: age of the held context close, in days (0 while the context is live)
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from btcrl.config.features import ContextAssetConfig, ContextFeaturesConfig
from btcrl.features.spec import ColumnSpec
from btcrl.features.volatility import log_return, rolling_corr_beta

PCT = {"center": 0.0, "width": 0.01}


@dataclass(frozen=True)
class ContextSeries:
    """A context market's aligned closes and their age, per base row."""

    name: str
    close: np.ndarray
    age_bars: np.ndarray


def align_by_close(
    context: pd.DataFrame, base_times: pd.DatetimeIndex, base_seconds: int, context_seconds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per base row: the close of the latest context bar closed by the base bar's close, and
    its age in base bars (NaN, NaN before the first one)."""
    ns = 1_000_000_000
    ctx_close_time = context.index.as_unit("ns").asi8 + context_seconds * ns
    row_close = base_times.as_unit("ns").asi8 + base_seconds * ns
    idx = np.searchsorted(ctx_close_time, row_close, side="right") - 1
    close = np.full(row_close.shape[0], np.nan)
    age = np.full(row_close.shape[0], np.nan)
    ok = idx >= 0
    close[ok] = context["close"].to_numpy(np.float64)[idx[ok]]
    age[ok] = (row_close[ok] - ctx_close_time[idx[ok]]) / (base_seconds * ns)
    return close, age


def context_columns(
    base_close: np.ndarray, series: ContextSeries, config: ContextFeaturesConfig
) -> list[tuple[ColumnSpec, np.ndarray]]:
    """(ColumnSpec, raw column) pairs of one candle context; normalised with ``scale``."""
    a = series.name
    out: list[tuple[ColumnSpec, np.ndarray]] = []
    for h in config.horizons:
        spec = ColumnSpec(f"{a}_ret_{h}", "context", "scale", {**PCT, "horizon": float(h)})
        out.append((spec, log_return(series.close, h)))
    corr, beta = rolling_corr_beta(
        log_return(base_close, 1), log_return(series.close, 1), config.window
    )
    window = {"window": float(config.window)}
    out.append(
        (ColumnSpec(f"{a}_corr", "context", "scale", {**window, "center": 0.0, "width": 1.0}), corr)
    )
    out.append(
        (ColumnSpec(f"{a}_beta", "context", "scale", {**window, "center": 1.0, "width": 1.0}), beta)
    )
    ratio = log_return(series.close / base_close, config.ratio_horizon)
    out.append(
        (
            ColumnSpec(
                f"{a}_ratio_ret",
                "context",
                "scale",
                {**PCT, "horizon": float(config.ratio_horizon)},
            ),
            ratio,
        )
    )
    age = ColumnSpec(f"{a}_age", "context", "scale", {"center": 0.0, "width": 24.0})
    out.append((age, series.age_bars))
    return out


def candle_contexts(config: tuple[ContextAssetConfig, ...]) -> list[ContextAssetConfig]:
    """The candle entries of ``features.context`` (external ones join ``features.external``)."""
    return [c for c in config if c.external is None]
