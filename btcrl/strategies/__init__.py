"""Rule-based strategies whose signals the agent observes (and backtests can replay).

``get_strategy(name)``, ``strategy_signals(name, candles, timeframe)``; the built-ins are
described in ``btcrl.strategies.builtin``; third-party ones register through the entry-point
group ``btcrl.strategies`` (``btcrl.strategies.base``).
"""

from btcrl.strategies import builtin as _builtin  # noqa: F401  (registers the built-ins)
from btcrl.strategies.base import (
    ENTRY_POINT_GROUP,
    SIGNAL_NAMES,
    UNDEFINED,
    Signal,
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
)
from btcrl.strategies.signals import raw_signals, signal_onehot, strategy_signals

__all__ = [
    "ENTRY_POINT_GROUP",
    "SIGNAL_NAMES",
    "UNDEFINED",
    "Signal",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "raw_signals",
    "register_strategy",
    "signal_onehot",
    "strategy_signals",
]
