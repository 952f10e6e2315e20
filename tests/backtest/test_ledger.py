"""Steps and trades from the env's ledger: accounting identities and hand-made fills."""

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.ledger import TRADE_COLUMNS, collect_steps, extract_trades, ledger_columns
from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS
from btcrl.policy.episode import backtest_env_config, run_episode
from btcrl.policy.policies import RULE_STOP_PCT, buy_and_hold_policy

from .conftest import bare_feature_set


class RandomPolicy:
    """Random targets every 40 bars and random stop widths: trades, flips and stops."""

    name = "random"

    def __init__(self, n: int, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.targets = np.repeat(rng.choice([-1.0, -0.4, 0.0, 0.5, 1.0], n // 40 + 1), 40)
        self.stops = rng.uniform(-1, 1, n)

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return np.array([self.targets[row], self.stops[row]], dtype=np.float32)


def _run(candles: pd.DataFrame, policy, force_close: bool, **env: float):
    fs = bare_feature_set(candles)
    settings = {"allow_short": True, "borrow_rate_annual": 0.0, **env}  # engine rules, no carry
    config = backtest_env_config(EnvConfig(**settings), force_close)
    episode = run_episode(fs, config, policy)
    ledger = ledger_columns(episode.ledger, LEDGER_FIELDS)
    steps = collect_steps(fs, episode.observations, episode.actions, ledger)
    return fs, episode, steps, extract_trades(ledger, steps.index, steps["close"].to_numpy())


@pytest.mark.parametrize("force_close", [True, False])
def test_trades_account_for_every_dollar(candles: pd.DataFrame, force_close: bool) -> None:
    fs, episode, steps, trades = _run(candles, RandomPolicy(len(candles)), force_close)
    assert list(trades.columns) == list(TRADE_COLUMNS)
    reasons = set(trades["exit_reason"])
    assert {"stop", "flip", "signal"} <= reasons
    # PnL of all trades (closed and open, net of fees) is the change in equity
    change = episode.equity[-1] - episode.equity[0]
    assert trades["pnl_usd"].sum() == pytest.approx(change, rel=1e-9, abs=1e-6)
    assert trades["fees"].sum() == pytest.approx(steps["fee"].sum(), rel=1e-9)
    # the steps frame copies the ledger: equity is cash + position x close (before any close)
    marked = steps["cash"] + steps["position"] * steps["close"]
    np.testing.assert_allclose(marked, steps["equity"], rtol=1e-12)
    assert steps["stop_hit"].sum() == (trades["exit_reason"] == "stop").sum()
    if force_close:
        assert not trades["open"].any()
        assert trades["exit_reason"].iloc[-1] == "forced_close"
        assert steps["position"].iloc[-1] == 0.0
    else:
        last = trades.iloc[-1]
        assert bool(last["open"]) == (steps["position"].iloc[-1] != 0.0)
    # trades do not overlap and alternate through flips correctly
    assert (trades["entry_bar"].to_numpy()[1:] >= trades["exit_bar"].to_numpy()[:-1]).all()
    assert (trades["duration_bars"] >= 0).all()
    flips = trades.index[trades["exit_reason"] == "flip"]
    for i in flips:
        assert trades.loc[i + 1, "entry_bar"] == trades.loc[i, "exit_bar"]
        assert trades.loc[i + 1, "side"] != trades.loc[i, "side"]


@pytest.mark.parametrize("force_close", [False, True])
@pytest.mark.parametrize("bps", [0.0, 3.0])
def test_buy_and_hold_total_return(candles: pd.DataFrame, force_close: bool, bps: float) -> None:
    """Buy and hold buys equity / open at the first open, paying fee and slippage.

    With O the first fill bar's open, C the last close, f the fee rate and s the slippage
    fraction: total return = C / O - (1 + s)(1 + f) without a forced close (the position is
    marked at C), and C / O (1 - s)(1 - f) - (1 + s)(1 + f) when it is sold at C. With s = 0
    and no close that is last close / first open - 1 - f: the price return less the entry fee.
    """
    fee = 0.001
    _fs, episode, steps, trades = _run(
        candles,
        buy_and_hold_policy(len(candles)),
        force_close,
        fee_rate=fee,
        slippage_bps=bps,
        max_position_btc=1e6,
        min_stop_pct=RULE_STOP_PCT,
        max_stop_pct=RULE_STOP_PCT,
    )
    s = bps / 1e4
    first_open = steps["open"].iloc[0]
    last_close = steps["close"].iloc[-1]
    expected = last_close / first_open - (1 + s) * (1 + fee)
    if force_close:
        expected = last_close / first_open * (1 - s) * (1 - fee) - (1 + s) * (1 + fee)
    total = episode.equity[-1] / episode.equity[0] - 1
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-12)
    if bps == 0 and not force_close:
        assert total == pytest.approx(last_close / first_open - 1 - fee, rel=1e-12)
    assert len(trades) == 1 and (steps["fill_qty"] != 0).sum() == 1


def test_hand_made_flip_and_scale_in() -> None:
    """Buy 1 @100, buy 1 @110 (avg 105), sell 3 @120 (close 2: +30, open short 1), buy 1 @90."""
    index = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC", name="time")
    zeros = np.zeros(4)
    ledger = {
        "bar": np.arange(1, 5),
        "position": np.array([1.0, 2.0, -1.0, 0.0]),
        "fill_qty": np.array([1.0, 1.0, -3.0, 1.0]),
        "fill_price": np.array([100.0, 110.0, 120.0, 90.0]),
        "fill_fee": np.array([1.0, 1.1, 3.6, 0.9]),
        "stop_fill_qty": zeros,
        "close_fill_qty": zeros,
    }
    trades = extract_trades(ledger, index, np.array([100.0, 110.0, 120.0, 90.0]))
    assert list(trades["side"]) == ["long", "short"]
    long, short = trades.iloc[0], trades.iloc[1]
    assert long["entry_price"] == pytest.approx(105.0)
    assert long["exit_price"] == pytest.approx(120.0)
    assert long["size_btc"] == pytest.approx(2.0)
    assert long["entry_notional"] == pytest.approx(210.0)
    assert long["fills"] == 3 and short["fills"] == 2  # the flip counts in both
    assert long["fees"] == pytest.approx(1.0 + 1.1 + 2.4)  # 2/3 of the flip's fee
    assert long["pnl_usd"] == pytest.approx(30.0 - 4.5)
    assert long["exit_reason"] == "flip"
    assert long["duration_bars"] == 2
    assert short["entry_price"] == pytest.approx(120.0)
    assert short["fees"] == pytest.approx(1.2 + 0.9)
    assert short["pnl_usd"] == pytest.approx(30.0 - 2.1)
    assert short["pnl_pct"] == pytest.approx((30.0 - 2.1) / 120.0)
    assert not short["open"]


def test_size_is_the_largest_position_not_the_sum_of_adds() -> None:
    """Churn inside one round trip: buy 2 @100, sell 1 @110, buy 1 @120, sell 2 @130.

    One trade of 4 fills; its size is the largest position (2 BTC, not 3 BTC bought), entry
    at the volume-weighted (2 x 100 + 120) / 3, notional 2 x that; PnL from the cash flows.
    """
    index = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC", name="time")
    zeros = np.zeros(4)
    ledger = {
        "bar": np.arange(1, 5),
        "position": np.array([2.0, 1.0, 2.0, 0.0]),
        "fill_qty": np.array([2.0, -1.0, 1.0, -2.0]),
        "fill_price": np.array([100.0, 110.0, 120.0, 130.0]),
        "fill_fee": np.array([0.2, 0.11, 0.12, 0.26]),
        "stop_fill_qty": zeros,
        "close_fill_qty": zeros,
    }
    trades = extract_trades(ledger, index, np.array([100.0, 110.0, 120.0, 130.0]))
    assert len(trades) == 1
    trade = trades.iloc[0]
    entry = (2 * 100.0 + 120.0) / 3
    assert trade["size_btc"] == pytest.approx(2.0)
    assert trade["entry_price"] == pytest.approx(entry)
    assert trade["entry_notional"] == pytest.approx(2 * entry)
    assert trade["exit_price"] == pytest.approx((110.0 + 2 * 130.0) / 3)
    assert trade["fills"] == 4
    assert trade["pnl_usd"] == pytest.approx(110 + 260 - 200 - 120 - 0.69)
