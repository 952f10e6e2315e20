"""Range-based volatility, log returns and trailing z-scores (fixed causal formulas).

Per bar t, over the ``w`` bars ``t - w + 1 .. t`` (NaN until ``w`` bars exist):

- Parkinson (1980): ``sigma_P = sqrt( sum ln(H/L)^2 / (4 w ln 2) )``
- Garman-Klass (1980): ``sigma_GK = sqrt( sum [0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2] / w )``

both per-bar volatilities as fractions (0.01 = 1 % per bar; multiply by sqrt(bars per year)
to annualise). ``log_return(close, h)`` is ``ln(C_t / C_{t-h})`` (fraction) and
``zscore(x, w)`` is ``(x_t - mean) / std`` over the window (population std, 0 std -> NaN).

Window sums are recomputed per row in a fixed order (numba loops), so row t is bit-identical
whatever rows follow it.
"""

import math

import numba
import numpy as np
import pandas as pd

from btcrl.config.features import FeaturesConfig
from btcrl.features.kernels import rolling_mean_dev, window_mean
from btcrl.features.spec import ColumnSpec

GK_CLOSE_WEIGHT = 2.0 * math.log(2.0) - 1.0


@numba.njit(cache=True)
def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``x[t - window + 1 .. t]`` per row; NaN while fewer rows exist or any is NaN."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for t in range(window - 1, n):
        out[t] = window_mean(x, t, window)
    return out


def rolling_mean_std(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of ``x[t - window + 1 .. t]`` per row (two passes); NaN while
    fewer rows exist or any is NaN."""
    mean, var = rolling_mean_dev(x, window, True)
    return mean, np.sqrt(var)


def rolling_zscore(x: np.ndarray, window: int) -> np.ndarray:
    """``(x_t - mean) / std`` over the trailing window (population std); NaN if std is 0."""
    mean, std = rolling_mean_std(x, window)
    out = np.full(x.shape[0], np.nan)
    ok = std > 0.0
    out[ok] = (x[ok] - mean[ok]) / std[ok]
    return out


@numba.njit(cache=True)
def rolling_corr_beta(x: np.ndarray, y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing correlation of ``y`` with ``x`` and beta of ``y`` on ``x`` (cov / var x)."""
    n = x.shape[0]
    corr = np.full(n, np.nan)
    beta = np.full(n, np.nan)
    for t in range(window - 1, n):
        sx = 0.0
        sy = 0.0
        for i in range(t - window + 1, t + 1):
            sx += x[i]
            sy += y[i]
        mx = sx / window
        my = sy / window
        cxx = 0.0
        cyy = 0.0
        cxy = 0.0
        for i in range(t - window + 1, t + 1):
            cxx += (x[i] - mx) ** 2
            cyy += (y[i] - my) ** 2
            cxy += (x[i] - mx) * (y[i] - my)
        if cxx > 0.0:
            beta[t] = cxy / cxx
            if cyy > 0.0:
                corr[t] = cxy / math.sqrt(cxx * cyy)
    return corr, beta


def parkinson(high: np.ndarray, low: np.ndarray, window: int) -> np.ndarray:
    """Parkinson volatility per bar (fraction) over the trailing ``window`` bars."""
    hl = np.log(high / low) ** 2
    return np.sqrt(rolling_mean(hl, window) / (4.0 * math.log(2.0)))


def garman_klass(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int
) -> np.ndarray:
    """Garman-Klass volatility per bar (fraction) over the trailing ``window`` bars."""
    terms = 0.5 * np.log(high / low) ** 2 - GK_CLOSE_WEIGHT * np.log(close / open_) ** 2
    return np.sqrt(np.maximum(rolling_mean(terms, window), 0.0))


def log_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """``ln(close_t / close_{t - horizon})`` (fraction); NaN for the first ``horizon`` rows."""
    out = np.full(close.shape[0], np.nan)
    if horizon < close.shape[0]:
        log_close = np.log(close)
        out[horizon:] = log_close[horizon:] - log_close[:-horizon]
    return out


def range_and_return_columns(
    candles: pd.DataFrame, config: FeaturesConfig
) -> list[tuple[ColumnSpec, np.ndarray]]:
    """(ColumnSpec, raw column) pairs of ``features.range_volatility`` (``parkinson_<w>``,
    ``garman_klass_<w>``: fractions, observed in %) and ``features.returns``
    (``logret_<h>`` in %, ``zscore_<w>`` of log close divided by 2)."""
    o, h, lo, c = (candles[col].to_numpy(np.float64) for col in ("open", "high", "low", "close"))
    pct = {"center": 0.0, "width": 0.01}
    out: list[tuple[ColumnSpec, np.ndarray]] = []
    if config.range_volatility.enabled:
        w = config.range_volatility.window
        params = {**pct, "window": float(w)}
        out.append(
            (ColumnSpec(f"parkinson_{w}", "volatility", "scale", params), parkinson(h, lo, w))
        )
        out.append(
            (
                ColumnSpec(f"garman_klass_{w}", "volatility", "scale", params),
                garman_klass(o, h, lo, c, w),
            )
        )
    if config.returns.enabled:
        for horizon in config.returns.horizons:
            spec = ColumnSpec(
                f"logret_{horizon}", "return", "scale", {**pct, "horizon": float(horizon)}
            )
            out.append((spec, log_return(c, horizon)))
        for w in config.returns.zscore_windows:
            spec = ColumnSpec(
                f"zscore_{w}", "return", "scale", {"center": 0.0, "width": 2.0, "window": float(w)}
            )
            out.append((spec, rolling_zscore(np.log(c), w)))
    return out
