"""Numba kernels for the recursive rules (OTT, Supertrend). One forward pass each: the value
at row t reads rows <= t only. Rows before the state is defined are NaN / 0."""

import numba
import numpy as np


@numba.njit(cache=True)
def variable_moving_average(src: np.ndarray, length: int, cmo_window: int) -> np.ndarray:
    """VAR (Chande's variable index dynamic average) as OTT uses it.

    alpha = 2 / (length + 1); k_t = alpha * |CMO_t| with the Chande momentum oscillator over
    ``cmo_window`` one-bar changes; VAR_t = k_t * src_t + (1 - k_t) * VAR_{t-1}. Seeded with
    ``src[cmo_window - 1]`` (instead of Pine's 0, which takes hundreds of bars to fade), so
    VAR is defined from row ``cmo_window`` on; NaN before.
    """
    n = src.shape[0]
    out = np.full(n, np.nan)
    if n <= cmo_window:
        return out
    alpha = 2.0 / (length + 1.0)
    up = np.zeros(n)
    down = np.zeros(n)
    for t in range(1, n):
        d = src[t] - src[t - 1]
        up[t] = d if d > 0.0 else 0.0
        down[t] = -d if d < 0.0 else 0.0
    var = src[cmo_window - 1]
    for t in range(cmo_window, n):
        su = 0.0
        sd = 0.0
        for k in range(t - cmo_window + 1, t + 1):
            su += up[k]
            sd += down[k]
        cmo = (su - sd) / (su + sd) if su + sd != 0.0 else 0.0
        k_t = alpha * abs(cmo)
        var = k_t * src[t] + (1.0 - k_t) * var
        out[t] = var
    return out


@numba.njit(cache=True)
def ott_line(mavg: np.ndarray, percent: float) -> np.ndarray:
    """The Optimized Trend Tracker line (Anil Ozeksi) over a moving average ``mavg``.

    fark = mavg * percent / 100; a long stop (mavg - fark) that only rises while mavg stays
    above the previous one, a short stop (mavg + fark) that only falls while mavg stays below
    the previous one; the direction flips when mavg crosses the opposite stop; MT is the
    stop of the current direction and OTT = MT * (200 +/- percent) / 200 (+ when mavg > MT).
    NaN where ``mavg`` is NaN.
    """
    n = mavg.shape[0]
    out = np.full(n, np.nan)
    started = False
    long_stop = 0.0
    short_stop = 0.0
    direction = 1
    for t in range(n):
        m = mavg[t]
        if np.isnan(m):
            continue
        fark = m * percent * 0.01
        ls = m - fark
        ss = m + fark
        if started:
            if m > long_stop:
                ls = max(ls, long_stop)
            if m < short_stop:
                ss = min(ss, short_stop)
            if direction == -1 and m > short_stop:
                direction = 1
            elif direction == 1 and m < long_stop:
                direction = -1
        started = True
        long_stop = ls
        short_stop = ss
        mt = ls if direction == 1 else ss
        out[t] = mt * (200.0 + percent) / 200.0 if m > mt else mt * (200.0 - percent) / 200.0
    return out


@numba.njit(cache=True)
def supertrend_direction(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, atr: np.ndarray, multiplier: float
) -> np.ndarray:
    """Supertrend direction per bar (+1 up, -1 down, 0 while ATR is undefined).

    Bands around hl2 = (high + low) / 2: up = hl2 - m * ATR, dn = hl2 + m * ATR. The up band
    only rises while the previous close stays above the previous up band; the down band only
    falls while the previous close stays below the previous down band. The trend turns up
    when close rises above the previous down band, down when it falls below the previous up
    band (KivancOzbilgic's TradingView formulation). Starts in the up trend.
    """
    n = close.shape[0]
    out = np.zeros(n, dtype=np.int8)
    started = False
    up_prev = 0.0
    dn_prev = 0.0
    trend = 1
    for t in range(n):
        a = atr[t]
        if np.isnan(a):
            continue
        hl2 = 0.5 * (high[t] + low[t])
        up = hl2 - multiplier * a
        dn = hl2 + multiplier * a
        if started:
            if close[t - 1] > up_prev:
                up = max(up, up_prev)
            if close[t - 1] < dn_prev:
                dn = min(dn, dn_prev)
            if trend == -1 and close[t] > dn_prev:
                trend = 1
            elif trend == 1 and close[t] < up_prev:
                trend = -1
        started = True
        up_prev = up
        dn_prev = dn
        out[t] = trend
    return out
