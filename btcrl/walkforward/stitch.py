"""Stitched out-of-sample equity and the metrics of segments and of the whole.

Convention (docs/walkforward.md): each test window starts flat with the previous window's
final equity, and the position is force-closed at the window's last close, paying its fee and
slippage. The window's episode starts at the close of the bar before its test start, so its
returns are exactly those of the bars ``[test_start, test_stop)`` and consecutive windows meet
at one shared point: the stitched curve is their concatenation, one point per bar.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from btcrl.backtest.report import cost_totals, risk_group
from btcrl.metrics import performance_metrics, sharpe_per_bar
from btcrl.metrics.stats import probabilistic_sharpe_ratio


@dataclass(frozen=True)
class Window:
    """One policy's test-window result: equity at the start point and after every step
    (USD, length steps + 1), its times (UTC, same length), the steps and trades frames."""

    segment: int
    times: pd.DatetimeIndex
    equity: np.ndarray
    steps: pd.DataFrame
    trades: pd.DataFrame

    @property
    def returns(self) -> np.ndarray:
        """Per-bar simple returns (fractions), length steps."""
        return self.equity[1:] / self.equity[:-1] - 1.0


def chain(windows: list[Window]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The stitched equity (USD) and its times: the first window whole, then each later
    window without its start point (the previous window's last point).

    Raises ValueError when a window does not start with the previous window's final equity
    (the chaining convention was not followed) or windows are out of order.
    """
    if not windows:
        raise ValueError("nothing to stitch: no windows")
    times = [windows[0].times]
    values = [windows[0].equity]
    for prev, win in zip(windows, windows[1:], strict=False):
        if not np.isclose(win.equity[0], prev.equity[-1], rtol=1e-12, atol=1e-9):
            raise ValueError(
                f"segment {win.segment} starts with {win.equity[0]} but segment {prev.segment} "
                f"ended with {prev.equity[-1]}"
            )
        if win.times[0] < prev.times[-1]:
            raise ValueError(f"segment {win.segment} starts before segment {prev.segment} ends")
        times.append(win.times[1:])
        values.append(win.equity[1:])
    return times[0].append(times[1:]), np.concatenate(values)


def window_metrics(
    equity: np.ndarray,
    steps: pd.DataFrame,
    trades: pd.DataFrame,
    periods_per_year: float,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """Metrics of one window (or the stitched whole): the performance group of
    ``btcrl.metrics`` (total_return, cagr fractions; sharpe, sortino annualised;
    max_drawdown <= 0; calmar), ``sharpe_per_bar`` (not annualised), the behaviour of
    ``btcrl.backtest.report.risk_group`` (turnover in times the mean equity, exposure
    fractions), ``fees`` (USD), ``fees_fraction`` (fees / starting equity),
    ``costs_fraction`` (fees, slippage and carry / starting equity), ``return_before_costs``
    (``total_return + costs_fraction``) and ``trade_count`` (closed and open round trips)."""
    out = performance_metrics(equity, periods_per_year, risk_free_rate)
    returns = equity[1:] / equity[:-1] - 1.0
    out["sharpe_per_bar"] = float(sharpe_per_bar(returns))
    out["psr"] = probabilistic_sharpe_ratio(returns) if returns.size >= 3 else math.nan
    risk = risk_group(steps, steps, trades, periods_per_year)  # steps hold the ledger columns
    for key in ("turnover", "avg_exposure", "time_in_market", "avg_net_exposure"):
        out[key] = risk[key]
    fees = float(steps["fee"].sum())
    out["fees"] = fees
    out["fees_fraction"] = fees / float(equity[0])
    costs = sum(cost_totals(steps))
    out["costs_fraction"] = costs / float(equity[0])
    out["return_before_costs"] = out["total_return"] + out["costs_fraction"]
    out["trade_count"] = float(len(trades))
    return out


def stitch(
    windows: list[Window],
) -> tuple[pd.DatetimeIndex, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Stitched (times, equity, steps, trades); steps (indexed by bar time) and trades carry
    a ``segment`` column, and trades are renumbered in time order."""
    times, equity = chain(windows)
    steps = pd.concat([w.steps.assign(segment=w.segment) for w in windows])
    with_trades = [w.trades.assign(segment=w.segment) for w in windows if len(w.trades)]
    if with_trades:
        trades = pd.concat(with_trades, ignore_index=True)
    else:
        trades = windows[0].trades.assign(segment=pd.Series([], dtype=np.int64))
    if "trade" in trades:
        trades["trade"] = np.arange(1, len(trades) + 1)
    return times, equity, steps, trades


def alpha_table(model: dict[int, float], benchmark: dict[int, float]) -> pd.DataFrame:
    """Per segment: the model's and buy-and-hold's total return (fractions) and the alpha,
    ``model - buy_and_hold`` (fraction, simple difference of the window returns)."""
    rows = [
        {
            "segment": seg,
            "return": model[seg],
            "bh_return": benchmark[seg],
            "alpha": model[seg] - benchmark[seg],
        }
        for seg in sorted(model)
    ]
    return pd.DataFrame(rows, columns=["segment", "return", "bh_return", "alpha"])


def share_beating(alpha: pd.DataFrame) -> float:
    """Fraction (0..1) of segments whose return beat buy-and-hold's (alpha > 0)."""
    if alpha.empty:
        return float("nan")
    return float((alpha["alpha"] > 0).mean())
