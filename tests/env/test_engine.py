"""Hand-computed trade scenarios through TradingEnv (one engine step per bar)."""

import math

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import TradingEnv

from .helpers import price_feature_set

FEE = 0.001
SLIP = 0.001  # 10 bps
BAL = 10_000.0


def make_env(rows: list[tuple[float, float, float, float]], **overrides: object) -> TradingEnv:
    settings: dict[str, object] = {
        "initial_balance": BAL,
        "leverage_limit": 1.0,
        "max_position_btc": 100.0,
        "exposure_deadzone": 0.05,
        "fee_rate": FEE,
        "slippage_bps": 10.0,
        "min_stop_pct": 0.01,
        "max_stop_pct": 0.10,
        "force_close_at_end": False,
        "allow_short": True,  # the engine's rules, not the shipped recipe's (long only, carry)
        "borrow_rate_annual": 0.0,
    }
    settings.update(overrides)
    env = TradingEnv(price_feature_set(np.array(rows)), EnvConfig(**settings), mode="backtest")
    env.reset()
    return env


FLAT = (1000.0, 1000.0, 1000.0, 1000.0)


def act(env: TradingEnv, a_pos: float, a_sl: float = -1.0) -> tuple:
    return env.step(np.array([a_pos, a_sl], dtype=np.float32))


def test_open_long_fills_at_next_open_with_slippage_fee_and_stop() -> None:
    env = make_env([FLAT, (1000.0, 1010.0, 995.0, 1005.0), FLAT])
    obs, reward, terminated, truncated, info = act(env, 0.5, -1.0)
    price = 1000.0 * (1 + SLIP)
    fee = FEE * 5.0 * price
    cash = BAL - 5.0 * price - fee
    assert info["bar"] == 1
    assert info["fill_qty"] == pytest.approx(5.0)
    assert info["fill_price"] == pytest.approx(1001.0)
    assert info["fee"] == pytest.approx(fee) and info["fill_fee"] == pytest.approx(5.005)
    assert info["slippage_cost"] == pytest.approx(5.0)
    assert info["cash"] == pytest.approx(cash)
    assert info["entry_price"] == pytest.approx(1001.0)
    assert info["stop_price"] == pytest.approx(1001.0 * 0.99)  # a_sl = -1 -> min_stop_pct
    assert info["equity"] == pytest.approx(cash + 5.0 * 1005.0)
    assert reward == pytest.approx(math.log((cash + 5.0 * 1005.0) / BAL))
    assert not info["stop_hit"] and not (terminated or truncated)
    assert obs[0] == pytest.approx(cash / BAL) and obs[-1] == pytest.approx(5.0 / 100.0)


def test_open_short_sets_stop_above_entry() -> None:
    env = make_env([FLAT, (1000.0, 1010.0, 995.0, 1005.0), FLAT])
    _, _, _, _, info = act(env, -0.5, 1.0)
    price = 1000.0 * (1 - SLIP)
    cash = BAL + 5.0 * price - FEE * 5.0 * price
    assert info["fill_qty"] == pytest.approx(-5.0)
    assert info["fill_price"] == pytest.approx(999.0)
    assert info["stop_price"] == pytest.approx(999.0 * 1.10)  # a_sl = +1 -> max_stop_pct
    assert info["equity"] == pytest.approx(cash - 5.0 * 1005.0)


def test_stop_fraction_is_linear_in_a_sl() -> None:
    env = make_env([FLAT, FLAT, FLAT])
    _, _, _, _, info = act(env, 0.5, 0.0)
    assert info["stop_price"] == pytest.approx(1001.0 * (1 - 0.055))


def test_flip_from_long_to_short_sets_new_entry_and_stop() -> None:
    env = make_env([FLAT, (1000.0, 1010.0, 995.0, 1005.0), (1005.0, 1006.0, 1004.0, 1005.0)])
    _, _, _, _, first = act(env, 0.5)
    _, _, _, _, info = act(env, -0.5, 1.0)
    equity_open = first["cash"] + 5.0 * 1005.0
    target = -0.5 * equity_open / 1005.0
    qty = target - 5.0
    price = 1005.0 * (1 - SLIP)
    assert info["fill_qty"] == pytest.approx(qty)
    assert info["fill_price"] == pytest.approx(price)
    assert info["position"] == pytest.approx(target)
    assert info["entry_price"] == pytest.approx(price)
    assert info["stop_price"] == pytest.approx(price * 1.10)
    assert info["cash"] == pytest.approx(first["cash"] - qty * price - FEE * abs(qty) * price)


def test_deadzone_skips_small_changes_and_keeps_the_position() -> None:
    env = make_env([FLAT, FLAT, FLAT, FLAT])
    act(env, 0.5)
    _, _, _, _, small = act(env, 0.53)  # change of ~0.03 < 0.05
    assert small["fill_qty"] == 0.0 and small["fee"] == 0.0
    assert small["position"] == pytest.approx(5.0)
    _, _, _, _, big = act(env, 0.6)
    assert big["fill_qty"] > 0.9


def test_position_is_capped_at_max_position_btc() -> None:
    env = make_env([FLAT, FLAT, FLAT], max_position_btc=2.0)
    _, _, _, _, info = act(env, 1.0)
    assert info["fill_qty"] == pytest.approx(2.0)
    _, _, _, _, again = act(env, 1.0)
    assert again["fill_qty"] == 0.0 and again["position"] == pytest.approx(2.0)


def test_shorts_are_ignored_without_allow_short() -> None:
    env = make_env([FLAT, FLAT, FLAT], allow_short=False)
    _, _, _, _, info = act(env, -1.0)
    assert info["fill_qty"] == 0.0 and info["position"] == 0.0


def test_stop_hit_inside_the_bar_fills_at_the_stop() -> None:
    env = make_env([FLAT, FLAT, (1000.0, 1002.0, 985.0, 995.0), FLAT])
    _, _, _, _, opened = act(env, 0.5, -1.0)
    stop = 1001.0 * 0.99
    _, _, _, _, info = act(env, 0.5, -1.0)  # same target: no order, the stop fires
    price = stop * (1 - SLIP)
    assert info["stop_hit"] and info["fill_qty"] == 0.0
    assert info["stop_fill_qty"] == pytest.approx(-5.0)
    assert info["stop_fill_price"] == pytest.approx(price)
    assert info["stop_fee"] == pytest.approx(FEE * 5.0 * price)
    assert info["position"] == 0.0 and info["stop_price"] == 0.0
    expected_cash = opened["cash"] + 5.0 * price - FEE * 5.0 * price
    assert info["cash"] == pytest.approx(expected_cash)
    assert info["equity"] == pytest.approx(expected_cash)


def test_short_stop_hit_on_the_high() -> None:
    env = make_env([FLAT, FLAT, (1000.0, 1100.0, 999.0, 1050.0)])
    act(env, -0.5, 1.0)
    _, _, _, _, info = act(env, -0.5)
    assert info["stop_hit"] and info["stop_fill_qty"] == pytest.approx(5.0)
    assert info["stop_fill_price"] == pytest.approx(999.0 * 1.10 * (1 + SLIP))


def test_gap_through_stop_fills_at_the_open_and_drops_the_order() -> None:
    env = make_env([FLAT, FLAT, (980.0, 990.0, 970.0, 985.0), FLAT])
    _, _, _, _, opened = act(env, 0.5, -1.0)  # stop at 990.99
    _, _, _, _, info = act(env, 1.0)  # the order is dropped: the stop fired at the open
    price = 980.0 * (1 - SLIP)
    assert info["stop_hit"] and info["stop_fill_price"] == pytest.approx(price)
    assert info["fill_qty"] == 0.0 and info["position"] == 0.0
    assert info["equity"] == pytest.approx(opened["cash"] + 5.0 * price * (1 - FEE))


def test_bankruptcy_terminates_the_episode() -> None:
    rows = [FLAT, FLAT, (500.0, 510.0, 490.0, 505.0), FLAT, FLAT]
    env = make_env(rows, leverage_limit=5.0)
    act(env, 1.0)  # 50 BTC at 1001 with 10,000 of equity
    _, reward, terminated, truncated, info = act(env, 1.0)
    assert terminated and not truncated and info["bankrupt"]
    assert info["stop_hit"] and info["stop_fill_price"] == pytest.approx(500.0 * (1 - SLIP))
    assert info["equity"] < 0
    assert np.isfinite(reward) and reward < -10
    with pytest.raises(RuntimeError, match="after the episode ended"):
        act(env, 0.0)


def test_forced_close_at_the_last_bar_uses_its_close() -> None:
    env = make_env([FLAT, FLAT, (1000.0, 1020.0, 1000.0, 1010.0)], force_close_at_end=True)
    _, _, _, _, opened = act(env, 0.5)
    _, _, terminated, truncated, info = act(env, 0.5)
    price = 1010.0 * (1 - SLIP)
    assert truncated and not terminated and info["forced_close"]
    assert info["close_fill_qty"] == pytest.approx(-5.0)
    assert info["close_fill_price"] == pytest.approx(price)
    assert info["close_fee"] == pytest.approx(FEE * 5.0 * price)
    assert info["position"] == 0.0
    assert info["equity"] == pytest.approx(opened["cash"] + 5.0 * price * (1 - FEE))
    assert info["equity"] == info["cash"]


def test_zero_action_stays_flat_with_constant_equity(short_real_features) -> None:  # noqa: ANN001
    env = TradingEnv(short_real_features, EnvConfig(), mode="eval")
    env.reset()
    done = False
    steps = 0
    while not done:
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 0.3], np.float32))
        assert reward == 0.0 and info["equity"] == 10_000.0 and info["position"] == 0.0
        assert info["fee"] == 0.0
        done = terminated or truncated
        steps += 1
    assert steps == len(short_real_features) - 1 - short_real_features.first_valid
