"""The five built-in strategies. Each emits *events*: LONG / SHORT when its entry rule fires,
FLAT when its exit rule fires, HOLD on every other bar (keep the current position).

=======================  =========  =======================================================
name                     timeframe  rules (defaults in brackets)
=======================  =========  =======================================================
``awesome_macd``         4h         MACD line (12, 26) and Awesome Oscillator (5, 34 on
                                    hl2). LONG: AO crosses above 0 (AO > 0 >= AO prev) while
                                    MACD > 0. SHORT: AO crosses below 0 while MACD < 0.
                                    FLAT: AO crosses 0 without MACD confirming it.
``bollinger_rsi``        base       Bollinger (20, 2) and RSI (14). LONG: close < lower band
                                    and RSI < 30. SHORT: close > upper band and RSI > 70.
                                    FLAT: close crosses the middle band (mean reached).
``ott``                  4h         Optimized Trend Tracker on VAR(close, 2) with percent
                                    1.4. LONG: VAR crosses above OTT of 2 bars before.
                                    SHORT: VAR crosses below it.
``supertrend``           base       ATR (10, Wilder) bands x 3 around hl2. LONG: the trend
                                    turns up. SHORT: the trend turns down.
``volatility_breakout``  base       ATR (14, Wilder). LONG: close > open + 1.0 x ATR of the
                                    bar before. SHORT: close < open - 1.0 x that ATR.
=======================  =========  =======================================================

"base" runs on the data's own bars; 4h runs on closed 4h bars merged back causally
(``btcrl.strategies.signals``). Pass ``timeframe=`` or parameters to ``get_strategy`` to
change them.
"""

from typing import Any

import numpy as np
import pandas as pd
from ta.momentum import AwesomeOscillatorIndicator, RSIIndicator
from ta.trend import MACD
from ta.volatility import BollingerBands

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN
from btcrl.indicators import atr
from btcrl.strategies import kernels
from btcrl.strategies.base import UNDEFINED, Signal, Strategy, register_strategy


def _prev(x: np.ndarray) -> np.ndarray:
    return np.concatenate(([np.nan], x[:-1])) if x.size else x


def _events(
    n: int, warmup: int, long: np.ndarray, short: np.ndarray, flat: np.ndarray | None = None
) -> np.ndarray:
    out = np.full(n, Signal.HOLD, dtype=np.int8)
    if flat is not None:
        out[flat] = Signal.FLAT
    out[long] = Signal.LONG
    out[short] = Signal.SHORT
    out[: min(warmup, n)] = UNDEFINED
    return out


@register_strategy
class AwesomeMacd(Strategy):
    """MACD trend filter + Awesome Oscillator zero crosses (see the module table)."""

    name = "awesome_macd"
    timeframe = "4h"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"fast": 12, "slow": 26, "ao_fast": 5, "ao_slow": 34}

    @property
    def warmup(self) -> int:
        return max(self.params["slow"] - 1, self.params["ao_slow"])

    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        p = self.params
        macd = MACD(candles[CLOSE], window_slow=p["slow"], window_fast=p["fast"]).macd()
        ao = (
            AwesomeOscillatorIndicator(
                candles[HIGH], candles[LOW], window1=p["ao_fast"], window2=p["ao_slow"]
            )
            .awesome_oscillator()
            .to_numpy(np.float64)
        )
        m = macd.to_numpy(np.float64)
        ao_prev = _prev(ao)
        up = (ao > 0) & (ao_prev <= 0)
        down = (ao < 0) & (ao_prev >= 0)
        long = up & (m > 0)
        short = down & (m < 0)
        return _events(len(candles), self.warmup, long, short, (up | down) & ~(long | short))


@register_strategy
class BollingerRsi(Strategy):
    """Mean reversion: outside the Bollinger band with an RSI extreme (see the module table)."""

    name = "bollinger_rsi"
    timeframe = None

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "window": 20,
            "deviations": 2.0,
            "rsi_window": 14,
            "oversold": 30.0,
            "overbought": 70.0,
        }

    @property
    def warmup(self) -> int:
        return max(self.params["window"], self.params["rsi_window"])

    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        p = self.params
        close = candles[CLOSE]
        bands = BollingerBands(close, window=p["window"], window_dev=p["deviations"])
        lower = bands.bollinger_lband().to_numpy(np.float64)
        upper = bands.bollinger_hband().to_numpy(np.float64)
        mid = bands.bollinger_mavg().to_numpy(np.float64)
        rsi = RSIIndicator(close, window=p["rsi_window"]).rsi().to_numpy(np.float64)
        c = close.to_numpy(np.float64)
        c_prev, mid_prev = _prev(c), _prev(mid)
        long = (c < lower) & (rsi < p["oversold"])
        short = (c > upper) & (rsi > p["overbought"])
        flat = ((c_prev < mid_prev) & (c >= mid)) | ((c_prev > mid_prev) & (c <= mid))
        return _events(len(candles), self.warmup, long, short, flat)


@register_strategy
class Ott(Strategy):
    """Optimized Trend Tracker crosses (see the module table)."""

    name = "ott"
    timeframe = "4h"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"length": 2, "percent": 1.4, "cmo_window": 9, "lag": 2}

    @property
    def warmup(self) -> int:
        return self.params["cmo_window"] + self.params["lag"] + 1

    def lines(self, candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(VAR, OTT shifted by ``lag`` bars), price units."""
        p = self.params
        src = candles[CLOSE].to_numpy(np.float64)
        mavg = kernels.variable_moving_average(src, int(p["length"]), int(p["cmo_window"]))
        ott = kernels.ott_line(mavg, float(p["percent"]))
        lag = int(p["lag"])
        shifted = np.concatenate((np.full(min(lag, ott.size), np.nan), ott[: ott.size - lag]))
        return mavg, shifted

    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        mavg, ott = self.lines(candles)
        mavg_prev, ott_prev = _prev(mavg), _prev(ott)
        long = (mavg > ott) & (mavg_prev <= ott_prev)
        short = (mavg < ott) & (mavg_prev >= ott_prev)
        return _events(len(candles), self.warmup, long, short)


@register_strategy
class Supertrend(Strategy):
    """Supertrend direction changes (see the module table)."""

    name = "supertrend"
    timeframe = None

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"atr_window": 10, "multiplier": 3.0}

    @property
    def warmup(self) -> int:
        return self.params["atr_window"]

    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        p = self.params
        trend = kernels.supertrend_direction(
            candles[HIGH].to_numpy(np.float64),
            candles[LOW].to_numpy(np.float64),
            candles[CLOSE].to_numpy(np.float64),
            atr(candles, int(p["atr_window"])),
            float(p["multiplier"]),
        )
        prev = np.concatenate(([0], trend[:-1])).astype(np.int8) if trend.size else trend
        long = (trend == 1) & (prev == -1)
        short = (trend == -1) & (prev == 1)
        return _events(len(candles), self.warmup, long, short)


@register_strategy
class VolatilityBreakout(Strategy):
    """A bar whose body exceeds k ATRs (see the module table)."""

    name = "volatility_breakout"
    timeframe = None

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"atr_window": 14, "k": 1.0}

    @property
    def warmup(self) -> int:
        return self.params["atr_window"]

    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        p = self.params
        atr_prev = _prev(atr(candles, int(p["atr_window"])))
        body = (candles[CLOSE] - candles[OPEN]).to_numpy(np.float64)
        long = body > p["k"] * atr_prev
        short = body < -p["k"] * atr_prev
        return _events(len(candles), self.warmup, long, short)
