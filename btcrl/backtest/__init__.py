"""Backtests: a registry model (or a rule baseline) on any period, with ledger, metrics cross-
checked against quantstats, plotly plots against buy-and-hold, and an MLflow run.

``run_backtest`` and ``backtest_after_training`` live in :mod:`btcrl.backtest.runner`
(imported lazily here, so that importing ``btcrl.backtest`` stays light).
"""

from typing import Any

__all__ = ["BacktestResult", "backtest_after_training", "run_backtest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from btcrl.backtest import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'btcrl.backtest' has no attribute {name!r}")
