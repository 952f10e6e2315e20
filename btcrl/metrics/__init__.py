"""Metrics shared by validation (agents) and backtests, below both in the import order.

Pure functions over numpy arrays; conventions in :mod:`btcrl.metrics.performance`.
"""

from btcrl.metrics.performance import (
    PERFORMANCE_KEYS,
    annual_volatility,
    behaviour_metrics,
    cagr,
    drawdown_series,
    max_drawdown,
    max_drawdown_duration,
    per_bar_rate,
    performance_metrics,
    sharpe_annualised,
    sharpe_per_bar,
    simple_returns,
    sortino_ratio,
    trade_metrics,
)

__all__ = [
    "PERFORMANCE_KEYS",
    "annual_volatility",
    "behaviour_metrics",
    "cagr",
    "drawdown_series",
    "max_drawdown",
    "max_drawdown_duration",
    "per_bar_rate",
    "performance_metrics",
    "sharpe_annualised",
    "sharpe_per_bar",
    "simple_returns",
    "sortino_ratio",
    "trade_metrics",
]
