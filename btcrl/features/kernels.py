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
def window_mean(x: np.ndarray, t: int, window: int) -> float:
    """Mean of ``x[t - window + 1 .. t]``, summed in row order (NaN if any is NaN)."""
    acc = 0.0
    for k in range(t - window + 1, t + 1):
        acc += x[k]
    return acc / window


@numba.njit(cache=True)
def rolling_mean_dev(x: np.ndarray, window: int, squared: bool) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and mean deviation from it over ``window`` rows, in two passes per row:
    the mean absolute deviation, or with ``squared`` the population variance. NaN before row
    ``window - 1`` or where the window holds a NaN."""
    n = x.shape[0]
    mean = np.full(n, np.nan)
    dev = np.full(n, np.nan)
    for t in range(window - 1, n):
        m = window_mean(x, t, window)
        acc = 0.0
        for k in range(t - window + 1, t + 1):
            acc += (x[k] - m) ** 2 if squared else abs(x[k] - m)
        mean[t] = m
        dev[t] = acc / window
    return mean, dev


def rolling_mean_abs_dev(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and mean absolute deviation over ``window`` rows (NaN before w - 1)."""
    return rolling_mean_dev(x, window, False)
