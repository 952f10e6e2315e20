"""Per-candle reference signals: what a naive bot computes at every new candle.

``reference_signal(name, candles_upto_t, timeframe)`` takes the candles up to and including
bar t, resamples them with pandas (keeping only buckets closed by bar t's close), recomputes
the strategy's indicators from scratch with plain pandas formulas and Python loops (no code
shared with ``btcrl.strategies.builtin``), and returns the signal of the last bar. Tests
check the vectorised signals against it; the benchmark times it as the baseline.
"""

import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN, VOLUME
from btcrl.data.timeframes import timeframe_seconds, timeframe_timedelta
from btcrl.strategies.base import UNDEFINED, Signal, get_strategy
from reference.features import ref_atr, ref_bollinger, ref_macd, ref_rsi

HOLD, FLAT, LONG, SHORT = int(Signal.HOLD), int(Signal.FLAT), int(Signal.LONG), int(Signal.SHORT)


def reference_resample(candles: pd.DataFrame, base: str, target: str) -> pd.DataFrame:
    """Closed ``target`` bars by pandas ``resample`` (epoch-aligned), dropping empty buckets
    and any bucket whose end is after the last base bar's close."""
    agg = {OPEN: "first", HIGH: "max", LOW: "min", CLOSE: "last", VOLUME: "sum"}
    bars = candles.resample(timeframe_timedelta(target), origin="epoch").agg(agg)
    counts = candles[CLOSE].resample(timeframe_timedelta(target), origin="epoch").count()
    bars = bars[counts > 0]
    last_close = candles.index[-1] + timeframe_timedelta(base)
    return bars[bars.index + timeframe_timedelta(target) <= last_close]


def _cross_up(a_now: float, a_prev: float, b_now: float = 0.0, b_prev: float = 0.0) -> bool:
    return a_now > b_now and a_prev <= b_prev


def _cross_down(a_now: float, a_prev: float, b_now: float = 0.0, b_prev: float = 0.0) -> bool:
    return a_now < b_now and a_prev >= b_prev


def _awesome_macd(c: pd.DataFrame, p: dict) -> int:
    macd = ref_macd_params(c[CLOSE], p["fast"], p["slow"]).iloc[-1]
    hl2 = (c[HIGH] + c[LOW]) / 2.0
    ao = hl2.rolling(p["ao_fast"]).mean() - hl2.rolling(p["ao_slow"]).mean()
    now, prev = ao.iloc[-1], ao.iloc[-2]
    if _cross_up(now, prev):
        return LONG if macd > 0 else FLAT
    if _cross_down(now, prev):
        return SHORT if macd < 0 else FLAT
    return HOLD


def ref_macd_params(close: pd.Series, fast: int, slow: int) -> pd.Series:
    if (fast, slow) == (12, 26):
        return ref_macd(close)
    ema = lambda n: close.ewm(span=n, adjust=False, min_periods=n).mean()  # noqa: E731
    return ema(fast) - ema(slow)


def _bollinger_rsi(c: pd.DataFrame, p: dict) -> int:
    upper, mid, lower = ref_bollinger(c[CLOSE], p["window"], p["deviations"])
    rsi = ref_rsi(c[CLOSE], p["rsi_window"]).iloc[-1]
    close, prev = c[CLOSE].iloc[-1], c[CLOSE].iloc[-2]
    if close < lower.iloc[-1] and rsi < p["oversold"]:
        return LONG
    if close > upper.iloc[-1] and rsi > p["overbought"]:
        return SHORT
    mid_now, mid_prev = mid.iloc[-1], mid.iloc[-2]
    if (prev < mid_prev and close >= mid_now) or (prev > mid_prev and close <= mid_now):
        return FLAT
    return HOLD


def _ott(c: pd.DataFrame, p: dict) -> int:
    src = c[CLOSE].tolist()
    n, w, pct = len(src), int(p["cmo_window"]), float(p["percent"])
    alpha = 2.0 / (p["length"] + 1.0)
    var = [float("nan")] * n
    level = src[w - 1]
    for t in range(w, n):
        moves = [src[k] - src[k - 1] for k in range(t - w + 1, t + 1)]
        ups = sum(m for m in moves if m > 0)
        downs = sum(-m for m in moves if m < 0)
        cmo = (ups - downs) / (ups + downs) if ups + downs != 0 else 0.0
        level = alpha * abs(cmo) * src[t] + (1.0 - alpha * abs(cmo)) * level
        var[t] = level
    ott = [float("nan")] * n
    long_stop = short_stop = 0.0
    direction = 1
    for t in range(w, n):
        m = var[t]
        ls, ss = m - m * pct / 100.0, m + m * pct / 100.0
        if t > w:
            ls = max(ls, long_stop) if m > long_stop else ls
            ss = min(ss, short_stop) if m < short_stop else ss
            if direction == -1 and m > short_stop:
                direction = 1
            elif direction == 1 and m < long_stop:
                direction = -1
        long_stop, short_stop = ls, ss
        mt = ls if direction == 1 else ss
        ott[t] = mt * (200.0 + pct) / 200.0 if m > mt else mt * (200.0 - pct) / 200.0
    lag = int(p["lag"])
    now, prev = var[-1], var[-2]
    ott_now, ott_prev = ott[-1 - lag], ott[-2 - lag]
    if _cross_up(now, prev, ott_now, ott_prev):
        return LONG
    if _cross_down(now, prev, ott_now, ott_prev):
        return SHORT
    return HOLD


def _supertrend(c: pd.DataFrame, p: dict) -> int:
    atr = ref_atr(c, int(p["atr_window"]))
    high, low, close = c[HIGH].tolist(), c[LOW].tolist(), c[CLOSE].tolist()
    trends: list[int] = []
    up_prev = dn_prev = 0.0
    trend = 1
    for t in range(len(close)):
        if np.isnan(atr[t]):
            trends.append(0)
            continue
        mid = (high[t] + low[t]) / 2.0
        up, dn = mid - p["multiplier"] * atr[t], mid + p["multiplier"] * atr[t]
        if trends and trends[-1] != 0:
            up = max(up, up_prev) if close[t - 1] > up_prev else up
            dn = min(dn, dn_prev) if close[t - 1] < dn_prev else dn
            if trend == -1 and close[t] > dn_prev:
                trend = 1
            elif trend == 1 and close[t] < up_prev:
                trend = -1
        up_prev, dn_prev = up, dn
        trends.append(trend)
    if trends[-1] == 1 and trends[-2] == -1:
        return LONG
    if trends[-1] == -1 and trends[-2] == 1:
        return SHORT
    return HOLD


def _volatility_breakout(c: pd.DataFrame, p: dict) -> int:
    atr_prev = ref_atr(c, int(p["atr_window"]))[-2]
    body = c[CLOSE].iloc[-1] - c[OPEN].iloc[-1]
    if body > p["k"] * atr_prev:
        return LONG
    if body < -p["k"] * atr_prev:
        return SHORT
    return HOLD


_RULES = {
    "awesome_macd": _awesome_macd,
    "bollinger_rsi": _bollinger_rsi,
    "ott": _ott,
    "supertrend": _supertrend,
    "volatility_breakout": _volatility_breakout,
}


def reference_signal(name: str, candles: pd.DataFrame, timeframe: str) -> int:
    """The signal at the last bar of ``candles`` (base bars of length ``timeframe``),
    recomputed from scratch; ``UNDEFINED`` before the strategy's warm-up."""
    strategy = get_strategy(name)
    bars = candles
    target = strategy.timeframe
    if target is not None and timeframe_seconds(target) > timeframe_seconds(timeframe):
        bars = reference_resample(candles, timeframe, target)
    if len(bars) <= strategy.warmup:
        return UNDEFINED
    return _RULES[name](bars, strategy.params)
