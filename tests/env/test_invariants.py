"""Property-based invariants of the engine on random bars and random actions."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from btcrl.config.env import EnvConfig
from btcrl.env import TradingEnv, reward_names
from btcrl.env.rewards import RELATIVE_REWARDS

from .helpers import price_feature_set


@st.composite
def bars_and_actions(draw: st.DrawFn, low: float = 0.9, high: float = 1.1) -> tuple:
    """Valid OHLC rows (closes within [low, high] x 1000) and one action per step."""
    n = draw(st.integers(3, 40))
    unit = st.floats(low, high, allow_nan=False)
    rows = []
    for _ in range(n):
        o, c = draw(unit) * 1000.0, draw(unit) * 1000.0
        wick_up, wick_down = draw(st.floats(0, 0.05)), draw(st.floats(0, 0.05))
        rows.append((o, max(o, c) * (1 + wick_up), min(o, c) * (1 - wick_down), c))
    action = st.tuples(st.floats(-1, 1), st.floats(-1, 1))
    actions = draw(st.lists(action, min_size=n - 1, max_size=n - 1))
    return np.array(rows), np.array(actions, dtype=np.float32)


def run(rows: np.ndarray, actions: np.ndarray, config: EnvConfig) -> list[dict]:
    env = TradingEnv(price_feature_set(rows), config, mode="backtest")
    env.reset()
    infos = []
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        infos.append(info)
        if terminated or truncated:
            break
    return infos


@settings(max_examples=60, deadline=None)
@given(bars_and_actions(), st.sampled_from([1.0, 3.0]), st.booleans())
def test_cash_plus_position_times_close_is_equity(
    data: tuple, leverage: float, force: bool
) -> None:
    rows, actions = data
    config = EnvConfig(leverage_limit=leverage, force_close_at_end=force, exposure_deadzone=0.0)
    for info in run(rows, actions, config):
        close = rows[info["bar"], 3]
        assert info["equity"] == info["cash"] + info["position"] * close
        assert info["fee"] >= 0.0 and info["slippage_cost"] >= 0.0
        assert info["fee"] == info["fill_fee"] + info["stop_fee"] + info["close_fee"]


@settings(max_examples=60, deadline=None)
@given(bars_and_actions(), st.floats(0.0, 0.01), st.floats(0.0, 50.0))
def test_costs_never_raise_equity_against_the_frictionless_run(
    data: tuple, fee_rate: float, slippage_bps: float
) -> None:
    """With the same positions (targets pinned by the BTC cap, stops out of reach), the
    costly book trails the frictionless one by exactly the fees and slippage paid."""
    rows, actions = data
    actions[:, 0] = np.sign(np.round(actions[:, 0]))  # -1, 0 or +1: capped targets
    common = {"max_position_btc": 2.0, "min_stop_pct": 0.5, "max_stop_pct": 0.9}
    free = run(rows, actions, EnvConfig(fee_rate=0.0, slippage_bps=0.0, **common))
    costly = run(rows, actions, EnvConfig(fee_rate=fee_rate, slippage_bps=slippage_bps, **common))
    paid = 0.0
    for a, b in zip(free, costly, strict=True):
        assert a["position"] == b["position"]
        paid += b["fee"] + b["slippage_cost"]
        assert b["equity"] <= a["equity"] + 1e-9
        assert math.isclose(a["equity"] - b["equity"], paid, rel_tol=1e-9, abs_tol=1e-7)


# rewards relative to the prior score a flat book against the prior (tests/env/test_residual.py)
PLAIN_REWARDS = [name for name in reward_names() if name not in RELATIVE_REWARDS]


@settings(max_examples=40, deadline=None)
@given(bars_and_actions(0.5, 2.0), st.sampled_from(PLAIN_REWARDS), st.floats(-1, 1))
def test_a_flat_book_earns_nothing(data: tuple, reward: str, a_sl: float) -> None:
    rows, actions = data
    actions[:, 0] = 0.0
    actions[:, 1] = a_sl
    env = TradingEnv(price_feature_set(rows), EnvConfig(reward=reward), mode="backtest")
    env.reset()
    for action in actions:
        obs, r, _, _, info = env.step(action)
        assert r == 0.0 and info["equity"] == 10_000.0 and info["fill_qty"] == 0.0
        assert obs[0] == 1.0 and obs[-1] == 0.0
