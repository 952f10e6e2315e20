"""Technical indicators by name (the FinRL/stockstats naming), each with its normalisation.

Names (``N`` = window in bars):

========================  ==============================================  ===================
name                      raw value (price units unless stated)           normalisation
========================  ==============================================  ===================
``macd``                  EMA12 - EMA26 of close                          100 * x / close
``macd_signal``           EMA9 of macd                                    100 * x / close
``macd_hist``             macd - macd_signal                              100 * x / close
``boll_ub``, ``boll_lb``  SMA20 +/- 2 population std of close             100 * (x/close - 1)
``boll_mid``              SMA20 of close                                  100 * (x/close - 1)
``rsi_N``                 Wilder RSI, 0..100                              (x - 50) / 50
``cci_N``                 (tp - SMA(tp)) / (0.015 * MAD(tp)), tp=(h+l+c)/3  x / 200
``dx_N``                  100 |+DI - -DI| / (+DI + -DI), Wilder sums, 0..100  (x - 50) / 50
``atr_N``                 Wilder average true range                       100 * x / close
``close_N_sma``           SMA N of close                                  100 * (x/close - 1)
``close_N_ema``           EMA N of close (span N)                         100 * (x/close - 1)
``ao``                    SMA5 - SMA34 of the median price (h+l)/2        100 * x / close
========================  ==============================================  ===================

MACD, Bollinger, RSI, SMA, EMA and AO come straight from the ``ta`` package (vectorised
pandas). CCI, DX and ATR use the same formulas as ``ta`` in numba kernels: ``ta``'s CCI calls a
Python lambda per row and ``ta``'s ADX and ATR loop in Python over
every row (tests check the values against ``ta`` and plain formulas).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ta.momentum import AwesomeOscillatorIndicator, RSIIndicator
from ta.trend import MACD, EMAIndicator, SMAIndicator
from ta.volatility import BollingerBands

from btcrl.data.columns import CLOSE, HIGH, LOW
from btcrl.errors import ConfigError
from btcrl.features import kernels
from btcrl.indicators import atr

Compute = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Indicator:
    """One indicator: how to compute its raw value and how to normalise it.

    ``warmup``: rows (bars) before the raw value is defined; ``compute`` returns NaN there.
    """

    name: str
    compute: Compute
    normalisation: str
    params: dict[str, float] = field(default_factory=dict)
    warmup: int = 0


_PCT = {"scale": 100.0}


def _macd(part: str) -> Compute:
    def compute(c: pd.DataFrame) -> np.ndarray:
        m = MACD(c[CLOSE], window_slow=26, window_fast=12, window_sign=9)
        series = {"macd": m.macd, "signal": m.macd_signal, "hist": m.macd_diff}[part]()
        return series.to_numpy(np.float64)

    return compute


def _boll(part: str) -> Compute:
    def compute(c: pd.DataFrame) -> np.ndarray:
        b = BollingerBands(c[CLOSE], window=20, window_dev=2)
        series = {"ub": b.bollinger_hband, "lb": b.bollinger_lband, "mid": b.bollinger_mavg}
        return series[part]().to_numpy(np.float64)

    return compute


def rsi(close: pd.Series, window: int) -> np.ndarray:
    """ta's RSI (Wilder smoothing as an EWM with alpha 1/window), 0..100."""
    return RSIIndicator(close, window=window).rsi().to_numpy(np.float64)


def cci(frame: pd.DataFrame, window: int) -> np.ndarray:
    """Commodity Channel Index with ta's constant 0.015 (unbounded, typically +/-200)."""
    tp = ((frame[HIGH] + frame[LOW] + frame[CLOSE]) / 3.0).to_numpy(np.float64)
    mean, mad = kernels.rolling_mean_abs_dev(tp, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (tp - mean) / (0.015 * mad)
    return np.where(mad == 0.0, 0.0, out)


def dx(frame: pd.DataFrame, window: int) -> np.ndarray:
    """Directional movement index DX (0..100) from Wilder sums of TR, +DM, -DM."""
    high = frame[HIGH].to_numpy(np.float64)
    low = frame[LOW].to_numpy(np.float64)
    close = frame[CLOSE].to_numpy(np.float64)
    tr = kernels.wilder_sum(kernels.true_range(high, low, close), window)
    plus_dm, minus_dm = kernels.directional_movement(high, low)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = np.where(tr != 0.0, 100.0 * kernels.wilder_sum(plus_dm, window) / tr, 0.0)
        minus_di = np.where(tr != 0.0, 100.0 * kernels.wilder_sum(minus_dm, window) / tr, 0.0)
        total = plus_di + minus_di
        out = np.where(total != 0.0, 100.0 * np.abs(plus_di - minus_di) / total, 0.0)
    out[np.isnan(tr)] = np.nan
    return out


def _sma(window: int) -> Compute:
    return lambda c: SMAIndicator(c[CLOSE], window=window).sma_indicator().to_numpy(np.float64)


def _ema(window: int) -> Compute:
    return lambda c: EMAIndicator(c[CLOSE], window=window).ema_indicator().to_numpy(np.float64)


def _ao(c: pd.DataFrame) -> np.ndarray:
    ind = AwesomeOscillatorIndicator(c[HIGH], c[LOW], window1=5, window2=34)
    return ind.awesome_oscillator().to_numpy(np.float64)


_FIXED: dict[str, Indicator] = {
    "macd": Indicator("macd", _macd("macd"), "diff_to_close", _PCT, 25),
    "macd_signal": Indicator("macd_signal", _macd("signal"), "diff_to_close", _PCT, 33),
    "macd_hist": Indicator("macd_hist", _macd("hist"), "diff_to_close", _PCT, 33),
    "boll_ub": Indicator("boll_ub", _boll("ub"), "ratio_to_close", _PCT, 19),
    "boll_lb": Indicator("boll_lb", _boll("lb"), "ratio_to_close", _PCT, 19),
    "boll_mid": Indicator("boll_mid", _boll("mid"), "ratio_to_close", _PCT, 19),
    "ao": Indicator("ao", _ao, "diff_to_close", _PCT, 33),
}
_WINDOWED = re.compile(r"^(rsi|cci|dx|atr)_([1-9][0-9]*)$")
_MOVING = re.compile(r"^close_([1-9][0-9]*)_(sma|ema)$")
INDICATOR_HELP = (
    "macd, macd_signal, macd_hist, boll_ub, boll_lb, boll_mid, ao, rsi_N, cci_N, dx_N, "
    "atr_N, close_N_sma, close_N_ema"
)


def get_indicator(name: str) -> Indicator:
    """The indicator called ``name``; ConfigError naming it if unknown."""
    if name in _FIXED:
        return _FIXED[name]
    match = _WINDOWED.match(name)
    if match:
        kind, n = match.group(1), int(match.group(2))
        if n < 2:
            raise ConfigError(f"indicator {name!r}: the window must be at least 2")
        if kind == "rsi":
            return Indicator(
                name, lambda c: rsi(c[CLOSE], n), "scale", {"center": 50.0, "width": 50.0}, n - 1
            )
        if kind == "cci":
            return Indicator(
                name, lambda c: cci(c, n), "scale", {"center": 0.0, "width": 200.0}, n - 1
            )
        if kind == "dx":
            return Indicator(name, lambda c: dx(c, n), "scale", {"center": 50.0, "width": 50.0}, n)
        return Indicator(name, lambda c: atr(c, n), "diff_to_close", _PCT, n - 1)
    match = _MOVING.match(name)
    if match:
        n, kind = int(match.group(1)), match.group(2)
        compute = _sma(n) if kind == "sma" else _ema(n)
        return Indicator(name, compute, "ratio_to_close", _PCT, n - 1)
    raise ConfigError(f"indicator {name!r} is unknown; known: {INDICATOR_HELP}")


def compute_indicators(candles: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Raw values (float64, one per bar, NaN during warm-up) of each named indicator."""
    return {name: get_indicator(name).compute(candles) for name in names}
