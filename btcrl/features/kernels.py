"""Numba kernels for the indicators whose natural form is a loop (Wilder smoothing, rolling MAD).

Every kernel is causal: output[t] reads inputs[<= t] only, in one forward pass, so the value
at row t is bit-identical whether it is computed on ``x[:t + 1]`` or on all of ``x``. Rows
without enough history are NaN.
"""

import numba
import numpy as np

from btcrl.indicators import true_range, wilder_average  # noqa: F401  (shared with strategies)


@numba.njit(cache=True)
def wilder_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Wilder's running sum of ``x[1:]``: S[w] = x[1] + ... + x[w], then
    S[t] = S[t-1] - S[t-1] / w + x[t] (the smoothing ta's ADX uses). NaN before row ``w``."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n <= window:
        return out
    acc = 0.0
    for t in range(1, window + 1):
        acc += x[t]
    out[window] = acc
    for t in range(window + 1, n):
        acc = acc - acc / window + x[t]
        out[t] = acc
    return out


@numba.njit(cache=True)
def directional_movement(high: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """+DM and -DM per bar (price units); row 0 is NaN."""
    n = high.shape[0]
    plus = np.full(n, np.nan)
    minus = np.full(n, np.nan)
    for t in range(1, n):
        up = high[t] - high[t - 1]
        down = low[t - 1] - low[t]
        plus[t] = up if (up > down and up > 0.0) else 0.0
        minus[t] = down if (down > up and down > 0.0) else 0.0
    return plus, minus


@numba.njit(cache=True)
def rolling_mean_abs_dev(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and mean absolute deviation over ``window`` rows (NaN before w - 1)."""
    n = x.shape[0]
    mean = np.full(n, np.nan)
    mad = np.full(n, np.nan)
    for t in range(window - 1, n):
        acc = 0.0
        for k in range(t - window + 1, t + 1):
            acc += x[k]
        m = acc / window
        dev = 0.0
        for k in range(t - window + 1, t + 1):
            dev += abs(x[k] - m)
        mean[t] = m
        mad[t] = dev / window
    return mean, mad
