"""Stitching: a hand-made three-segment case, then real chained windows on the sample."""

import numpy as np
import pandas as pd
import pytest

from btcrl.config import DataConfig, FeaturesConfig
from btcrl.config.env import EnvConfig
from btcrl.data.sample import load_sample
from btcrl.walkforward.oos import baseline_policy, run_window
from btcrl.walkforward.stitch import (
    Window,
    alpha_table,
    chain,
    share_beating,
    stitch,
    window_metrics,
)
from btcrl.walkforward.windows import window_features

HOUR = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def hand_window(
    segment: int,
    start: int,
    equity: list[float],
    qty: list[float],
    close: list[float],
    fee: list[float],
) -> Window:
    """A window whose steps hold only what the metrics read: one buy/sell per step at the
    close given, the position after it, the fee and the equity after it."""
    n = len(equity) - 1
    position = np.cumsum(qty)
    steps = pd.DataFrame(
        {
            "close": close,
            "position": position,
            "equity": equity[1:],
            "fee": fee,
            "fill_qty": qty,
            "fill_price": close,
            "stop_hit": [False] * n,
            "stop_fill_qty": [0.0] * n,
            "stop_fill_price": [0.0] * n,
            "close_fill_qty": [0.0] * n,
            "close_fill_price": [0.0] * n,
        },
        index=pd.DatetimeIndex([T0 + (start + i + 1) * HOUR for i in range(n)], name="time"),
    )
    trades = pd.DataFrame({"trade": [1], "open": [False], "side": ["long"]})
    times = pd.DatetimeIndex([T0 + (start + i) * HOUR for i in range(n + 1)])
    return Window(segment, times, np.asarray(equity, float), steps, trades)


# Three two-bar windows: +10 %, +10 % | -10 %, +10 % | +10 %, -10 %. Each window starts with
# the previous one's final equity (121, 119.79).
W0 = hand_window(0, 0, [100.0, 110.0, 121.0], [1.0, -1.0], [100.0, 110.0], [0.1, 0.11])
W1 = hand_window(1, 2, [121.0, 108.9, 119.79], [0.0, 0.0], [99.0, 108.9], [0.0, 0.0])
W2 = hand_window(2, 4, [119.79, 131.769, 118.5921], [2.0, -2.0], [50.0, 60.0], [1.0, 1.2])


def test_three_segment_chain() -> None:
    times, equity = chain([W0, W1, W2])
    assert list(times) == [T0 + i * HOUR for i in range(7)]
    np.testing.assert_allclose(equity, [100, 110, 121, 108.9, 119.79, 131.769, 118.5921])
    returns = equity[1:] / equity[:-1] - 1
    np.testing.assert_allclose(returns, [0.1, 0.1, -0.1, 0.1, 0.1, -0.1], atol=1e-12)


def test_three_segment_metrics() -> None:
    times, equity, steps, trades = stitch([W0, W1, W2])
    whole = window_metrics(equity, steps, trades, periods_per_year=365)
    # 1.1^4 * 0.9^2 - 1
    assert whole["total_return"] == pytest.approx(0.185921, abs=1e-12)
    assert whole["max_drawdown"] == pytest.approx(-0.1, abs=1e-12)
    assert whole["fees"] == pytest.approx(0.1 + 0.11 + 1.0 + 1.2)
    assert whole["fees_fraction"] == pytest.approx(2.41 / 100)
    # no slippage or carry columns in these steps: the costs are the fees
    assert whole["costs_fraction"] == pytest.approx(2.41 / 100)
    assert whole["return_before_costs"] == pytest.approx(0.185921 + 0.0241, abs=1e-12)
    # traded notional 100 + 110 + 100 + 120 = 430 over the mean of the six marked equities
    mean_equity = np.mean([110, 121, 108.9, 119.79, 131.769, 118.5921])
    assert whole["turnover"] == pytest.approx(430 / mean_equity)
    assert whole["trade_count"] == 3
    assert list(steps["segment"]) == [0, 0, 1, 1, 2, 2]
    assert list(steps.index) == list(times[1:])  # one step per stitched bar, in time order
    assert list(trades["trade"]) == [1, 2, 3]
    # mean of +-10 % returns 4:2 is 1/30; sample std of (0.1 x4, -0.1 x2)
    r = np.array([0.1, 0.1, -0.1, 0.1, 0.1, -0.1])
    assert whole["sharpe_per_bar"] == pytest.approx(r.mean() / r.std(ddof=1))
    first = window_metrics(W0.equity, W0.steps, W0.trades, 365)
    assert first["total_return"] == pytest.approx(0.21)
    carried = W0.steps.assign(slippage_cost=[0.05, 0.05], borrow_cost=[0.2, 0.3])
    costly = window_metrics(W0.equity, carried, W0.trades, 365)
    assert costly["costs_fraction"] == pytest.approx((0.21 + 0.1 + 0.5) / 100)
    assert costly["return_before_costs"] == pytest.approx(0.21 + 0.0081)


def test_alpha_and_share() -> None:
    table = alpha_table({0: 0.21, 1: -0.01, 2: -0.01}, {0: 0.05, 1: 0.02, 2: -0.3})
    np.testing.assert_allclose(table["alpha"], [0.16, -0.03, 0.29])
    assert share_beating(table) == pytest.approx(2 / 3)


def test_broken_chain_raises() -> None:
    bad = hand_window(1, 2, [100.0, 90.0, 99.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="starts with 100.0 but segment 0 ended with 121.0"):
        chain([W0, bad])


def test_real_windows_chain_on_the_sample() -> None:
    """Three monthly buy-and-hold windows chained on the bundled sample: each starts with the
    previous final equity, the windows meet at one bar, and the stitched return compounds."""
    candles = load_sample()
    data, features, env = DataConfig(), FeaturesConfig(cache=False), EnvConfig()
    months = [pd.Timestamp(f"2023-0{m}-01", tz="UTC") for m in (3, 4, 5, 6)]
    windows = []
    balance = env.initial_balance
    for k, (start, stop) in enumerate(zip(months, months[1:], strict=False)):
        fs = window_features(candles, features, data, start, stop, lead_bars=1)
        assert fs.index[0] == start - HOUR and fs.index[-1] == stop - HOUR
        policy, rule_env = baseline_policy("buy_and_hold", fs, env)
        win = run_window(fs, rule_env, policy, balance, k)
        assert win.equity[0] == balance
        assert win.steps["position"].iloc[-1] == 0  # force-closed at the window's end
        balance = float(win.equity[-1])
        windows.append(win)
    times, equity = chain(windows)
    in_range = (candles.index >= months[0] - HOUR) & (candles.index < months[-1])
    assert len(times) == in_range.sum()  # every bar once (the sample misses one in March)
    growth = np.prod([w.equity[-1] / w.equity[0] for w in windows])
    assert equity[-1] / equity[0] == pytest.approx(growth)
