"""Strategy signals per base bar: run each strategy on its own timeframe, merge causally."""

import numpy as np
import pandas as pd

from btcrl.errors import DataError
from btcrl.strategies.base import UNDEFINED, Signal, Strategy, get_strategy
from btcrl.strategies.resample import check_timeframes, merge_to_base, resample_closed


def raw_signals(strategy: Strategy, candles: pd.DataFrame, timeframe: str) -> np.ndarray:
    """int8 signal per base bar of ``candles`` (bar length ``timeframe``), ``UNDEFINED``
    (-1) where the strategy has not warmed up or no higher-timeframe bar has closed yet.

    A strategy with a longer timeframe runs on closed resampled bars; each of its signals
    appears at the first base row whose close is at or after that bar's close and is
    repeated until the next one (``btcrl.strategies.resample``).
    """
    if strategy.timeframe is None or not check_timeframes(timeframe, strategy.timeframe):
        return np.asarray(strategy.signals(candles), dtype=np.int8)
    bars = resample_closed(candles, timeframe, strategy.timeframe)
    values = np.asarray(strategy.signals(bars), dtype=np.int8)
    return merge_to_base(
        values, bars.index, strategy.timeframe, candles.index, timeframe, UNDEFINED
    )


def strategy_signals(name: str, candles: pd.DataFrame, timeframe: str) -> np.ndarray:
    """Signals of the registered strategy ``name`` per base bar: int8 in 0 FLAT, 1 LONG,
    2 SHORT, 3 HOLD. Rows before the strategy is defined are FLAT (stay out)."""
    if not isinstance(candles.index, pd.DatetimeIndex):
        raise DataError("candles must be indexed by a UTC DatetimeIndex of bar open times")
    out = raw_signals(get_strategy(name), candles, timeframe)
    out[out == UNDEFINED] = Signal.FLAT
    return out


def signal_onehot(signals: np.ndarray) -> np.ndarray:
    """(T, 4) float one-hot in FLAT, LONG, SHORT, HOLD order; NaN rows where UNDEFINED."""
    out = np.zeros((signals.shape[0], 4), dtype=np.float64)
    defined = signals != UNDEFINED
    out[np.flatnonzero(defined), signals[defined].astype(np.int64)] = 1.0
    out[~defined] = np.nan
    return out
