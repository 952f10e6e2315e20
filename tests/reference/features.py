"""Plain, slow reference formulas: the independent check for the vectorised features.

Written from the textbook definitions with pandas and Python loops, sharing no code with
``btcrl.features.indicators`` / ``kernels`` / ``turbulence``. Tests compare the two on real
data; ``benchmarks/features.py`` times ``reference_row`` per candle as the baseline. Not for
production use.
"""

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from btcrl.data.columns import CLOSE, HIGH, LOW


def ref_ema(x: pd.Series, span: int) -> pd.Series:
    """EMA with alpha 2 / (span + 1), seeded at the first value, NaN for span - 1 rows."""
    return x.ewm(span=span, adjust=False, min_periods=span).mean()


def ref_macd(close: pd.Series) -> pd.Series:
    return ref_ema(close, 12) - ref_ema(close, 26)


def ref_bollinger(close: pd.Series, window: int = 20, k: float = 2.0) -> tuple[pd.Series, ...]:
    """(upper, middle, lower) with the population standard deviation."""
    mid = close.rolling(window).mean()
    std = close.rolling(window).std(ddof=0)
    return mid + k * std, mid, mid - k * std


def ref_rsi(close: pd.Series, window: int) -> pd.Series:
    """Wilder RSI via an EWM with alpha 1 / window; 100 when there were no losses."""
    diff = close.diff()
    gain = diff.clip(lower=0.0).fillna(0.0)
    loss = (-diff).clip(lower=0.0).fillna(0.0)
    avg_gain = gain.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()
    avg_loss = loss.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()
    rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return rsi.where(avg_loss != 0.0, 100.0).where(avg_loss.notna())


def ref_cci(frame: pd.DataFrame, window: int) -> pd.Series:
    tp = (frame[HIGH] + frame[LOW] + frame[CLOSE]) / 3.0
    out = pd.Series(np.nan, index=frame.index)
    if len(tp) >= window:
        win = sliding_window_view(tp.to_numpy(), window)
        mean = win.mean(axis=1)
        mad = np.abs(win - mean[:, None]).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(mad == 0, 0.0, (tp.to_numpy()[window - 1 :] - mean) / (0.015 * mad))
        out.iloc[window - 1 :] = value
    return out


def ref_true_range(frame: pd.DataFrame) -> np.ndarray:
    prev = frame[CLOSE].shift(1)
    tr = pd.concat([frame[HIGH], prev], axis=1).max(axis=1) - pd.concat(
        [frame[LOW], prev], axis=1
    ).min(axis=1)
    return tr.to_numpy(np.float64)  # row 0 = high - low (no previous close)


def _wilder_sum_loop(x: list[float], window: int) -> list[float]:
    out = [float("nan")] * len(x)
    if len(x) <= window:
        return out
    s = sum(x[1 : window + 1])
    out[window] = s
    for t in range(window + 1, len(x)):
        s = s - s / window + x[t]
        out[t] = s
    return out


def ref_dx(frame: pd.DataFrame, window: int) -> np.ndarray:
    """DX = 100 |+DI - -DI| / (+DI + -DI) from Wilder running sums (loops)."""
    high, low = frame[HIGH].tolist(), frame[LOW].tolist()
    tr = ref_true_range(frame).tolist()
    plus, minus = [0.0], [0.0]
    for t in range(1, len(high)):
        up, down = high[t] - high[t - 1], low[t - 1] - low[t]
        plus.append(up if up > down and up > 0 else 0.0)
        minus.append(down if down > up and down > 0 else 0.0)
    s_tr, s_p, s_m = (_wilder_sum_loop(v, window) for v in (tr, plus, minus))
    out = np.full(len(high), np.nan)
    for t in range(window, len(high)):
        dip = 100.0 * s_p[t] / s_tr[t] if s_tr[t] else 0.0
        dim = 100.0 * s_m[t] / s_tr[t] if s_tr[t] else 0.0
        out[t] = 100.0 * abs(dip - dim) / (dip + dim) if dip + dim else 0.0
    return out


def ref_atr(frame: pd.DataFrame, window: int) -> np.ndarray:
    """Wilder ATR: mean of the first ``window`` true ranges, then (A*(w-1) + TR) / w."""
    tr = ref_true_range(frame).tolist()
    out = np.full(len(tr), np.nan)
    if len(tr) < window:
        return out
    a = sum(tr[:window]) / window
    out[window - 1] = a
    for t in range(window, len(tr)):
        a = (a * (window - 1) + tr[t]) / window
        out[t] = a
    return out


def ref_indicator(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The raw value of a named indicator (see btcrl.features.indicators) by plain formulas."""
    close = frame[CLOSE]
    if name == "macd":
        return ref_macd(close).to_numpy()
    if name.startswith("boll_"):
        upper, mid, lower = ref_bollinger(close)
        return {"boll_ub": upper, "boll_lb": lower, "boll_mid": mid}[name].to_numpy()
    if name == "ao":
        hl2 = (frame[HIGH] + frame[LOW]) / 2.0
        return (hl2.rolling(5).mean() - hl2.rolling(34).mean()).to_numpy()
    kind, _, rest = name.partition("_")
    if kind == "close":
        length, avg = rest.split("_")
        span = int(length)
        series = close.rolling(span).mean() if avg == "sma" else ref_ema(close, span)
        return series.to_numpy()
    n = int(rest)
    funcs = {
        "rsi": lambda: ref_rsi(close, n).to_numpy(),
        "cci": lambda: ref_cci(frame, n).to_numpy(),
        "dx": lambda: ref_dx(frame, n),
        "atr": lambda: ref_atr(frame, n),
    }
    return funcs[kind]()


def ref_turbulence_last(close: np.ndarray, window: int, horizons: tuple[int, ...]) -> float:
    """Turbulence of the last row only: Mahalanobis distance with np.cov on the window."""
    t = close.shape[0] - 1
    if t < max(horizons) + window:
        return float("nan")
    log_close = np.log(close)

    def vector(row: int) -> np.ndarray:
        return np.array([log_close[row] - log_close[row - h] for h in horizons])

    history = np.array([vector(row) for row in range(t - window, t)])
    mean = history.mean(axis=0)
    cov = np.cov(history, rowvar=False, ddof=1)
    cov = cov + (1e-9 * np.trace(cov) / len(horizons) + 1e-18) * np.eye(len(horizons))
    dev = vector(t) - mean
    return float(max(dev @ np.linalg.solve(cov, dev), 0.0))
