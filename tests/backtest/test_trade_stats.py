"""Fills, round trips, turnover and fees from ledger arrays, on a hand-made ledger."""

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.ledger import extract_trades
from btcrl.metrics.trades import fill_sequence, trade_activity, traded_notional, turnover

ZERO = np.zeros(4)


def _ledger(position: list[float], **fills: list[float]) -> dict[str, np.ndarray]:
    base = {"bar": np.arange(1, 5), "position": np.array(position), "equity": np.full(4, 1000.0)}
    names = ("fill_qty", "fill_price", "fill_fee", "stop_fill_qty", "stop_fill_price")
    names += ("stop_fee", "close_fill_qty", "close_fill_price", "close_fee")
    out = {**base, **{n: ZERO for n in names}}
    out.update({k: np.array(v) for k, v in fills.items()})
    out["fee"] = out["fill_fee"] + out["stop_fee"] + out["close_fee"]
    return out


def churn() -> dict[str, np.ndarray]:
    """Buy 1 @100; buy 1 @110 and the stop sells 2 @105 in the same bar; sell short 1 @120;
    the forced close buys it back @118. Fees 0.1 % of each notional."""
    return _ledger(
        [1.0, 0.0, -1.0, 0.0],
        fill_qty=[1.0, 1.0, -1.0, 0.0],
        fill_price=[100.0, 110.0, 120.0, 0.0],
        fill_fee=[0.1, 0.11, 0.12, 0.0],
        stop_fill_qty=[0.0, -2.0, 0.0, 0.0],
        stop_fill_price=[0.0, 105.0, 0.0, 0.0],
        stop_fee=[0.0, 0.21, 0.0, 0.0],
        close_fill_qty=[0.0, 0.0, 0.0, 1.0],
        close_fill_price=[0.0, 0.0, 0.0, 118.0],
        close_fee=[0.0, 0.0, 0.0, 0.118],
    )


def test_fill_sequence_orders_fills_within_a_bar() -> None:
    fills = fill_sequence(churn())
    assert fills.step.tolist() == [0, 1, 1, 2, 3]
    assert fills.kind.tolist() == [0, 0, 1, 0, 2]  # signal, signal, stop, signal, close
    assert fills.before.tolist() == [0.0, 1.0, 2.0, 0.0, -1.0]
    assert fills.after.tolist() == [1.0, 2.0, 0.0, -1.0, 0.0]
    assert fills.opening.tolist() == [True, False, False, True, False]
    assert fills.closing.tolist() == [False, False, True, False, True]


def test_trade_activity_counts_every_fill() -> None:
    activity = trade_activity(churn(), initial_balance=1000.0)
    assert activity["fills"] == 5
    assert activity["round_trips"] == 2 and activity["open_round_trips"] == 0
    assert activity["fills_per_round_trip"] == 2.5
    notional = 100 + 110 + 210 + 120 + 118
    assert traded_notional(churn()).tolist() == [100.0, 320.0, 120.0, 118.0]
    assert activity["turnover"] == pytest.approx(notional / 1000.0)
    assert activity["fees"] == pytest.approx(0.658)
    assert activity["fees_pct"] == pytest.approx(0.658 / 1000.0)


def test_open_round_trip_and_flat_book() -> None:
    held = _ledger([1.0, 1.0, 1.0, 1.0], fill_qty=[1.0, 0, 0, 0], fill_price=[100.0, 0, 0, 0])
    activity = trade_activity(held, 1000.0)
    assert activity["round_trips"] == 0 and activity["open_round_trips"] == 1
    assert activity["fills"] == 1 and activity["fills_per_round_trip"] == 1
    flat = trade_activity(_ledger([0.0] * 4), 1000.0)
    assert flat["fills"] == 0 and flat["round_trips"] == 0 and flat["turnover"] == 0.0
    assert np.isnan(flat["fills_per_round_trip"])
    assert turnover(np.array([10.0]), np.array([0.0])) == float("inf")


def test_trades_of_the_churn_ledger() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC", name="time")
    trades = extract_trades(churn(), index, np.array([101.0, 104.0, 119.0, 118.0]))
    long, short = trades.iloc[0], trades.iloc[1]
    assert (long["side"], long["exit_reason"], long["fills"]) == ("long", "stop", 3)
    assert long["size_btc"] == 2.0 and long["entry_price"] == pytest.approx(105.0)
    assert long["pnl_usd"] == pytest.approx(210.0 - 210.0 - 0.42)
    assert long["duration_bars"] == 2  # entered bar 1, stopped inside bar 2
    assert (short["side"], short["exit_reason"], short["fills"]) == ("short", "forced_close", 2)
    assert short["pnl_usd"] == pytest.approx(120.0 - 118.0 - 0.238)
    assert short["pnl_pct"] == pytest.approx((2.0 - 0.238) / 120.0)
    assert trades["pnl_usd"].sum() == pytest.approx(-0.42 + 1.762)
