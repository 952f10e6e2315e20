"""The metric groups of a backtest, strategy and buy-and-hold side by side.

``metrics.json`` holds ``run`` (metadata), ``performance``, ``risk`` (risk and behaviour),
``activity`` (fills, round trips, turnover, fees: ``btcrl.metrics.trades``),
``trades`` (closed round trips), ``results``, ``reward`` and ``data_quality``; each of
performance, risk, activity, trades and results has a ``strategy`` and a ``buy_and_hold``
column over the same bars, and ``performance.excess`` the strategy minus buy-and-hold.
``prior`` (when the feature set carries the prior's columns) holds the ``trend_voltarget``
prior's performance over the same bars and the strategy's excess over it (issue 21).
Units: fractions (0.1 = 10 %), USD, bars.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from btcrl.metrics import behaviour_metrics, performance_metrics, sharpe_annualised, trade_metrics
from btcrl.metrics.stats import probabilistic_sharpe_ratio
from btcrl.metrics.trades import trade_activity, traded_notional

Ledger = Mapping[str, np.ndarray]

HEADLINE = (
    ("performance", "strategy", "total_return"),
    ("performance", "strategy", "cagr"),
    ("performance", "strategy", "annual_volatility"),
    ("performance", "strategy", "sharpe"),
    ("performance", "strategy", "sortino"),
    ("performance", "strategy", "calmar"),
    ("performance", "strategy", "max_drawdown"),
    ("performance", "strategy", "max_drawdown_duration"),
    ("performance", "excess", "excess_return"),
    ("performance", "buy_and_hold", "total_return"),
    ("performance", "buy_and_hold", "sharpe"),
    ("risk", "strategy", "time_in_market"),
    ("risk", "strategy", "avg_exposure"),
    ("risk", "strategy", "stop_loss_count"),
    ("activity", "strategy", "round_trips"),
    ("activity", "strategy", "fills"),
    ("activity", "strategy", "turnover"),
    ("activity", "strategy", "fees_pct"),
    ("trades", "strategy", "win_rate"),
    ("trades", "strategy", "profit_factor"),
    ("trades", "strategy", "expectancy"),
    ("reward", None, "total"),
    ("results", None, "final_equity"),
    ("results", None, "realised_pnl"),
    ("results", None, "fees"),
    ("results", None, "borrow_cost"),
    ("results", None, "costs"),
    ("results", None, "return_before_costs"),
)


def equity_curve(steps: pd.DataFrame, initial_balance: float) -> np.ndarray:
    """Equity (USD) at the start and after every step (length steps + 1)."""
    return np.concatenate([[initial_balance], steps["equity"].to_numpy(np.float64)])


def risk_group(
    steps: pd.DataFrame, ledger: Ledger, trades: pd.DataFrame, periods_per_year: float
) -> dict[str, float]:
    """Risk and behaviour metrics of one episode; ``stop_loss_rate`` = stops / closed trades.

    The position and equity are those after each step's forced close, if any.
    """
    out = behaviour_metrics(
        steps["position"].to_numpy(),
        steps["close"].to_numpy(),
        steps["equity"].to_numpy(),
        traded_notional(ledger),
        steps["stop_hit"].to_numpy(),
        periods_per_year,
    )
    closed = trades[~trades["open"].astype(bool)] if len(trades) else trades
    out["stop_loss_rate"] = out["stop_loss_count"] / len(closed) if len(closed) else 0.0
    return out


def trades_group(trades: pd.DataFrame) -> dict[str, float]:
    """Trade metrics over closed trades; the open one (if any) is counted apart."""
    is_open = trades["open"].astype(bool).to_numpy() if len(trades) else np.zeros(0, bool)
    closed = trades[~is_open]
    out = trade_metrics(
        closed["pnl_usd"].to_numpy(np.float64),
        closed["pnl_pct"].to_numpy(np.float64),
        closed["duration_bars"].to_numpy(np.float64),
    )
    out["open_trades"] = float(is_open.sum())
    out["long_trades"] = float((closed["side"] == "long").sum())
    out["short_trades"] = float((closed["side"] == "short").sum())
    return out


def cost_totals(steps: pd.DataFrame) -> tuple[float, float, float]:
    """(fees, slippage, carry) in USD summed over ``steps`` (the ledger's ``fee``,
    ``slippage_cost`` and ``borrow_cost``; a missing column counts 0)."""
    return tuple(  # type: ignore[return-value]
        float(steps[c].sum()) if c in steps else 0.0
        for c in ("fee", "slippage_cost", "borrow_cost")
    )


def results_group(steps: pd.DataFrame, trades: pd.DataFrame, initial_balance: float) -> dict:
    """Mark-to-market and realised results in USD: final equity, realised PnL (closed trades,
    net of fees), unrealised PnL (the open trade at the last close), fees, slippage, carry
    (``borrow_cost``), their sum ``costs``, and ``pnl_before_costs`` (``pnl + costs``) with
    ``return_before_costs`` (the same over the initial balance, a fraction)."""
    is_open = trades["open"].astype(bool) if len(trades) else pd.Series([], dtype=bool)
    final = float(steps["equity"].iloc[-1])
    fees, slippage, carry = cost_totals(steps)
    costs = fees + slippage + carry
    return {
        "initial_balance": initial_balance,
        "final_equity": final,
        "pnl": final - initial_balance,
        "realised_pnl": float(trades.loc[~is_open, "pnl_usd"].sum()) if len(trades) else 0.0,
        "unrealised_pnl": float(trades.loc[is_open, "pnl_usd"].sum()) if len(trades) else 0.0,
        "final_position_btc": float(steps["position"].iloc[-1]),
        "final_cash": float(steps["cash"].iloc[-1]),
        "fees": fees,
        "slippage_cost": slippage,
        "borrow_cost": carry,
        "costs": costs,
        "pnl_before_costs": final - initial_balance + costs,
        "return_before_costs": (final - initial_balance + costs) / initial_balance,
    }


def reward_group(steps: pd.DataFrame, reward_name: str, initial_balance: float) -> dict[str, Any]:
    """Reward diagnostics: what the agent was optimised for, on this period, and how it
    correlates with the per-step log return of equity."""
    reward = steps["reward"].to_numpy(np.float64)
    equity = equity_curve(steps, initial_balance)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ret = np.diff(np.log(np.where(equity > 0, equity, np.nan)))
    finite = np.isfinite(reward)
    both = finite & np.isfinite(log_ret)
    corr = math.nan
    if both.sum() > 2 and np.std(reward[both]) > 0 and np.std(log_ret[both]) > 0:
        corr = float(np.corrcoef(reward[both], log_ret[both])[0, 1])
    good = reward[finite]
    return {
        "name": reward_name,
        "total": float(good.sum()),
        "mean": float(good.mean()) if good.size else math.nan,
        "std": float(good.std()) if good.size else math.nan,
        "min": float(good.min()) if good.size else math.nan,
        "max": float(good.max()) if good.size else math.nan,
        "nonfinite": float((~finite).sum()),
        "corr_with_log_return": corr,
    }


def data_quality_group(
    steps: pd.DataFrame, times: pd.DatetimeIndex, bar_seconds: float, n_expected: int
) -> dict[str, float]:
    """NaN/Inf counts in observations, actions and prices, missing bars, bankruptcy."""
    obs = steps[[c for c in steps.columns if c.startswith("obs_")]].to_numpy(np.float64)
    act = steps[["a_pos", "a_sl"]].to_numpy(np.float64)
    px = steps[["open", "high", "low", "close"]].to_numpy(np.float64)
    gaps = np.diff(times.as_unit("ns").asi8) / 1e9 / bar_seconds if len(times) > 1 else []
    bankrupt = steps["bankrupt"].to_numpy(bool)
    return {
        "bars": float(len(steps)),
        "bars_expected": float(n_expected),
        "missing_bars": float(np.sum(np.maximum(np.asarray(gaps) - 1, 0))),
        "obs_nan": float(np.isnan(obs).sum()),
        "obs_inf": float(np.isinf(obs).sum()),
        "action_nan": float(np.isnan(act).sum()),
        "action_out_of_range": float((np.abs(act) > 1).sum()),
        "price_nan": float(np.isnan(px).sum()),
        "bankrupt": float(bankrupt.any()),
        "bankrupt_step": float(np.argmax(bankrupt)) if bankrupt.any() else -1.0,
    }


def build_metrics(
    *,
    steps: pd.DataFrame,
    ledger: Ledger,
    trades: pd.DataFrame,
    bench_steps: pd.DataFrame,
    bench_ledger: Ledger,
    bench_trades: pd.DataFrame,
    initial_balance: float,
    periods_per_year: float,
    risk_free_rate: float,
    run: Mapping[str, Any],
    reward_name: str,
    bar_seconds: float,
    n_expected: int,
    prior_steps: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """All groups of ``metrics.json`` (see the module docstring); ``ledger`` /
    ``bench_ledger`` the episodes' ledger columns (``btcrl.backtest.ledger.ledger_columns``);
    ``prior_steps`` the prior's steps over the same bars (adds the ``prior`` group)."""
    equity = equity_curve(steps, initial_balance)
    bench = equity_curve(bench_steps, initial_balance)
    perf = performance_metrics(equity, periods_per_year, risk_free_rate)
    perf_bh = performance_metrics(bench, periods_per_year, risk_free_rate)
    extra = {}
    if prior_steps is not None:
        prior = equity_curve(prior_steps, initial_balance)
        extra["prior"] = prior_group(equity, prior, periods_per_year, risk_free_rate)
    per_bar = excess_group(equity, bench, periods_per_year)
    return {
        **extra,
        "run": dict(run),
        "performance": {
            "strategy": perf,
            "buy_and_hold": perf_bh,
            "excess": {
                "excess_return": perf["total_return"] - perf_bh["total_return"],
                "excess_cagr": perf["cagr"] - perf_bh["cagr"],
                "sharpe_difference": perf["sharpe"] - perf_bh["sharpe"],
                "max_drawdown_difference": perf["max_drawdown"] - perf_bh["max_drawdown"],
                "excess_sharpe": per_bar["excess_sharpe"],
                "excess_psr": per_bar["excess_psr"],
            },
        },
        "risk": {
            "strategy": risk_group(steps, ledger, trades, periods_per_year),
            "buy_and_hold": risk_group(bench_steps, bench_ledger, bench_trades, periods_per_year),
        },
        "activity": {
            "strategy": trade_activity(ledger, initial_balance),
            "buy_and_hold": trade_activity(bench_ledger, initial_balance),
        },
        "trades": {"strategy": trades_group(trades), "buy_and_hold": trades_group(bench_trades)},
        "results": {
            "strategy": results_group(steps, trades, initial_balance),
            "buy_and_hold": results_group(bench_steps, bench_trades, initial_balance),
        },
        "reward": reward_group(steps, reward_name, initial_balance),
        "data_quality": data_quality_group(steps, steps.index, bar_seconds, n_expected),
    }


def excess_group(
    equity: np.ndarray, other: np.ndarray, periods_per_year: float
) -> dict[str, float]:
    """The strategy's excess over another curve on the same bars: ``excess_return``
    (difference of total returns, fraction), ``excess_sharpe`` (annualised Sharpe of the
    per-bar return differences) and ``excess_psr`` (probability that their true Sharpe is
    above 0; NaN with fewer than 3 bars)."""
    n = min(len(equity), len(other))
    diff = (equity[1:n] / equity[: n - 1]) - (other[1:n] / other[: n - 1])
    psr = probabilistic_sharpe_ratio(diff) if diff.size >= 3 else math.nan
    return {
        "excess_return": float(equity[-1] / equity[0] - other[-1] / other[0]),
        "excess_sharpe": sharpe_annualised(diff, periods_per_year) if diff.size >= 2 else math.nan,
        "excess_psr": psr,
    }


def prior_group(
    equity: np.ndarray, prior: np.ndarray, periods_per_year: float, risk_free_rate: float
) -> dict[str, Any]:
    """``performance`` of the prior's equity curve and ``excess``: the strategy over it."""
    return {
        "performance": performance_metrics(prior, periods_per_year, risk_free_rate),
        "excess": excess_group(equity, prior, periods_per_year),
    }


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The flat, finite headline numbers logged as MLflow metrics (``bh_`` = buy-and-hold)."""
    out: dict[str, float] = {}
    for group, column, key in HEADLINE:
        node = metrics[group]
        if column is not None:
            node = node[column]
        elif group == "results":
            node = node["strategy"]
        value = node.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        name = key
        if column == "buy_and_hold":
            name = f"bh_{key}"
        elif group == "reward":
            name = f"reward_{key}"
        out[name] = float(value)
    prior = metrics.get("prior")
    if prior is not None:  # prior_total_return, prior_sharpe, excess_prior_* ...
        for key in ("total_return", "sharpe", "max_drawdown"):
            out[f"prior_{key}"] = float(prior["performance"][key])
        for key, value in prior["excess"].items():
            out[key.replace("excess_", "excess_prior_")] = float(value)
    out = {k: v for k, v in out.items() if math.isfinite(v)}
    return out


def json_safe(value: Any) -> Any:
    """Non-finite floats -> None (JSON null), numpy scalars -> Python, recursively."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
