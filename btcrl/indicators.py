"""Indicator primitives shared by features and strategies (below both in the import order).

Numba kernels are causal: output[t] reads inputs[<= t] only, in one forward pass. Rows without
enough history are NaN.
"""

import numba
import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, HIGH, LOW


@numba.njit(cache=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Wilder's true range, price units; row 0 (no previous close) is high - low, as in ta."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n:
        out[0] = high[0] - low[0]
    for t in range(1, n):
        prev = close[t - 1]
        out[t] = max(high[t], prev) - min(low[t], prev)
    return out


@numba.njit(cache=True)
def wilder_average(x: np.ndarray, window: int) -> np.ndarray:
    """Wilder's moving average as ta's ATR defines it: A[w-1] = mean(x[0:w]) with NaN
    treated as 0, then A[t] = (A[t-1] * (w - 1) + x[t]) / w. NaN before row ``w - 1``."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n < window:
        return out
    acc = 0.0
    for t in range(window):
        if not np.isnan(x[t]):
            acc += x[t]
    avg = acc / window
    out[window - 1] = avg
    for t in range(window, n):
        avg = (avg * (window - 1) + x[t]) / window
        out[t] = avg
    return out


def atr(frame: pd.DataFrame, window: int) -> np.ndarray:
    """Wilder average true range (price units) as ta computes it; NaN before row ``window - 1``."""
    high = frame[HIGH].to_numpy(np.float64)
    low = frame[LOW].to_numpy(np.float64)
    close = frame[CLOSE].to_numpy(np.float64)
    return wilder_average(true_range(high, low, close), window)
