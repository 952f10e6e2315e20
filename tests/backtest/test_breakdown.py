"""Breakdowns: causal regimes whose returns compound to the whole, and the trade table."""

import numpy as np
import pandas as pd

from btcrl.backtest.breakdown import (
    REGIMES,
    WARM_UP,
    regime_labels,
    regime_table,
    trade_summary,
)
from btcrl.data.sample import load_sample


def _frame() -> pd.DataFrame:
    close = load_sample()["close"].loc["2024-06-01":"2024-09-30"]
    rng = np.random.default_rng(0)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.002, len(close)))
    bh = 10_000 * close.to_numpy() / close.iloc[0]
    return pd.DataFrame({"equity": equity, "buy_and_hold": bh, "close": close.to_numpy()},
                        index=close.index)  # fmt: skip


def test_regimes_never_look_ahead() -> None:
    close = _frame()["close"]
    full = regime_labels(close, 720)
    for t in (800, 1500, len(close) - 1):
        assert regime_labels(close.iloc[:t], 720).equals(full.iloc[:t])
    assert set(full) <= {*REGIMES, WARM_UP} and (full.iloc[:719] == WARM_UP).all()


def test_regime_returns_compound_to_the_whole_and_shares_sum_to_one() -> None:
    frame = _frame()
    table = regime_table(frame, {"strategy": "equity", "buy and hold": "buy_and_hold"}, 8760)
    assert list(table["regime"]) == [*REGIMES, WARM_UP]
    assert table["bars"].sum() == len(frame) - 1 and np.isclose(table["share"].sum(), 1.0)
    for name, column in (("strategy", "equity"), ("buy and hold", "buy_and_hold")):
        grown = np.prod(1 + table[f"{name} return"].fillna(0.0))
        assert np.isclose(grown, frame[column].iloc[-1] / frame[column].iloc[0])


def test_trade_summary_counts_wins_draws_losses_and_names_the_extremes() -> None:
    times = pd.date_range("2024-01-01", periods=4, freq="1D", tz="UTC")
    trades = pd.DataFrame({
        "side": ["long", "short", "long", "long"], "entry_time": times,
        "pnl_pct": [0.05, -0.02, 0.00001, 0.01], "exit_reason": ["signal", "stop", "flip", "open"],
        "duration_bars": [10, 4, 6, 3], "open": [False, False, False, True],
    })  # fmt: skip
    table = dict(zip(*trade_summary(trades).to_numpy().T, strict=True))
    assert table["trades (closed)"] == "3" and table["win / draw / loss"] == "1 / 1 / 1"
    assert table["exits"] == "signal 1, stop 1, flip 1"
    assert table["mean duration (bars)"] == "6.7" and table["open at the end"] == "1"
    assert table["best trade"] == "+5.00% (long, entered 2024-01-01 00:00, exit signal)"
    assert table["worst trade"].startswith("-2.00% (short, entered 2024-01-02 00:00, exit stop")
