"""Metrics against quantstats, hand-made curves with known answers, and invariants."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from btcrl.data.timeframes import periods_per_year
from btcrl.metrics import (
    behaviour_metrics,
    drawdown_series,
    max_drawdown_duration,
    performance_metrics,
    simple_returns,
    trade_metrics,
)

PPY = periods_per_year("1h")


def _curves() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for drift, vol, n in ((0.0002, 0.01, 2000), (-0.0003, 0.02, 500), (0.0, 0.004, 50)):
        out.append(10_000.0 * np.exp(np.cumsum(rng.normal(drift, vol, n))))
    return out


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("rf", [0.0, 0.04])
@pytest.mark.parametrize("curve", range(3))
def test_against_quantstats(curve: int, rf: float) -> None:
    qs = pytest.importorskip("quantstats")  # only this comparison needs it
    equity = np.concatenate([[10_000.0], _curves()[curve]])
    index = pd.date_range("2024-01-01", periods=equity.size, freq="1h", tz="UTC")
    returns = pd.Series(simple_returns(equity), index=index[1:])
    ours = performance_metrics(equity, PPY, risk_free_rate=rf)
    periods = int(PPY)
    theirs = {
        "sharpe": qs.stats.sharpe(returns, rf=rf, periods=periods),
        "sortino": qs.stats.sortino(returns, rf=rf, periods=periods),
        "max_drawdown": qs.stats.max_drawdown(returns),
        "cagr": qs.stats.cagr(returns, rf=rf, periods=periods),
        "annual_volatility": qs.stats.volatility(returns, periods=periods),
        "calmar": qs.stats.calmar(returns, periods=periods),
    }
    for key, value in theirs.items():
        assert _rel(ours[key], float(value)) < 1e-9, (key, ours[key], value)
    # quantstats on the equity itself (prices) gives the same drawdown
    prices = pd.Series(equity[1:], index=index[1:])
    prices = pd.concat([pd.Series([equity[0]], index=index[:1]), prices])
    assert _rel(ours["max_drawdown"], float(qs.stats.max_drawdown(prices))) < 1e-9


def test_known_answers() -> None:
    # one year of hourly bars doubling exactly: CAGR 100 %
    n = int(PPY)
    equity = 100.0 * 2.0 ** (np.arange(n + 1) / n)
    m = performance_metrics(equity, PPY)
    assert m["total_return"] == pytest.approx(1.0, rel=1e-12)
    assert m["cagr"] == pytest.approx(1.0, rel=1e-9)
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_duration"] == 0.0
    assert m["sortino"] == math.inf  # no losing bar
    assert m["calmar"] == math.inf

    # peak 120, trough 60, recovery: -50 % over 3 bars under water
    equity = np.array([100.0, 120.0, 90.0, 60.0, 100.0, 130.0])
    assert drawdown_series(equity).min() == pytest.approx(-0.5)
    assert performance_metrics(equity, 4.0)["max_drawdown"] == pytest.approx(-0.5)
    assert max_drawdown_duration(equity) == 3
    # never recovers: under water to the end
    assert max_drawdown_duration(np.array([1.0, 2.0, 1.5, 1.8, 1.9])) == 3

    # two returns +10 %, -10 %: mean 0 -> Sharpe 0, vol = std * sqrt(ppy)
    equity = np.array([100.0, 110.0, 99.0])
    m = performance_metrics(equity, 100.0)
    assert m["sharpe"] == pytest.approx(0.0, abs=1e-12)
    assert m["annual_volatility"] == pytest.approx(np.std([0.1, -0.1], ddof=1) * 10.0)
    assert m["total_return"] == pytest.approx(-0.01)
    # sortino: downside sqrt(0.01 / 2), mean 0 -> 0
    assert m["sortino"] == pytest.approx(0.0, abs=1e-12)


def test_flat_book_is_zero_not_nan() -> None:
    m = performance_metrics(np.full(100, 10_000.0), PPY)
    assert m == {
        "total_return": 0.0,
        "cagr": 0.0,
        "annual_volatility": 0.0,
        "sharpe": 0.0,
        "sortino": 0.0,
        "calmar": 0.0,
        "max_drawdown": 0.0,
        "max_drawdown_duration": 0.0,
    }


def test_invariants() -> None:
    for equity in _curves():
        m = performance_metrics(equity, PPY)
        assert m["max_drawdown"] <= 0
        assert np.all(drawdown_series(equity) <= 0)
        # scale invariance: every metric is unchanged by the account's currency size
        scaled = performance_metrics(equity * 37.5, PPY)
        for key in m:
            assert scaled[key] == pytest.approx(m[key], rel=1e-9, abs=1e-12)
        # drawdown is unchanged by appending a new high, and only deepens with a new low
        higher = np.concatenate([equity, [equity.max() * 1.01]])
        assert performance_metrics(higher, PPY)["max_drawdown"] == pytest.approx(m["max_drawdown"])
        lower = np.concatenate([equity, [equity.min() * 0.5]])
        assert performance_metrics(lower, PPY)["max_drawdown"] < m["max_drawdown"]
        # a flat stretch before the start changes neither the return nor the drawdown
        padded = performance_metrics(np.concatenate([np.full(50, equity[0]), equity]), PPY)
        assert padded["total_return"] == pytest.approx(m["total_return"], rel=1e-12)
        assert padded["max_drawdown"] == pytest.approx(m["max_drawdown"], rel=1e-12)


def test_bankrupt_curve() -> None:
    m = performance_metrics(np.array([100.0, 50.0, 0.0, 0.0]), PPY)
    assert m["total_return"] == -1.0
    assert m["cagr"] == -1.0
    assert m["max_drawdown"] == -1.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array([]), "equity needs at least 2 points, got 0"),
        (np.array([1.0]), "equity needs at least 2 points, got 1"),
        (np.array([1.0, 2.0]), "performance metrics need at least 3 equity points, got 2"),
        (np.array([1.0, np.nan, 2.0]), "equity holds 1 non-finite values"),
        (np.array([0.0, 1.0, 2.0]), "equity must start positive, starts at 0.0"),
    ],
)
def test_bad_input_raises(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        performance_metrics(bad, PPY)


def test_bad_periods_raise() -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        performance_metrics(np.array([1.0, 2.0, 3.0]), 0.0)


def test_trade_metrics() -> None:
    m = trade_metrics(
        np.array([100.0, -50.0, 30.0, -20.0]),
        np.array([0.01, -0.005, 0.003, -0.002]),
        np.array([10, 5, 3, 2]),
    )
    assert m["trade_count"] == 4
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(130.0 / 70.0)
    assert m["expectancy"] == pytest.approx(15.0)
    assert m["median_pnl"] == pytest.approx(5.0)
    assert m["avg_win"] == pytest.approx(65.0)
    assert m["avg_loss"] == pytest.approx(-35.0)
    assert m["largest_win"] == 100.0 and m["largest_loss"] == -50.0
    assert m["avg_duration"] == 5.0
    empty = trade_metrics(np.array([]), np.array([]), np.array([]))
    assert empty["trade_count"] == 0 and math.isnan(empty["win_rate"])
    assert (
        trade_metrics(np.array([5.0]), np.array([0.1]), np.array([1]))["profit_factor"] == math.inf
    )


def test_behaviour_metrics() -> None:
    pos = np.array([0.0, 1.0, 1.0, -0.5, 0.0])
    close = np.array([100.0, 100.0, 110.0, 100.0, 100.0])
    equity = np.array([200.0, 200.0, 210.0, 200.0, 200.0])
    notional = np.array([0.0, 100.0, 0.0, 150.0, 50.0])
    m = behaviour_metrics(pos, close, equity, notional, np.array([0, 0, 0, 0, 1]), 8760.0)
    assert m["time_in_market"] == pytest.approx(0.6)
    assert m["max_exposure"] == pytest.approx(110.0 / 210.0)
    assert m["avg_exposure"] == pytest.approx((0.5 + 110 / 210 + 0.25) / 5)
    assert m["avg_net_exposure"] == pytest.approx((0.5 + 110 / 210 - 0.25) / 5)
    assert m["turnover"] == pytest.approx(300.0 / 202.0)
    assert m["stop_loss_count"] == 1
