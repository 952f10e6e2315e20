"""Hand-computed engine branches that tests/env/test_engine.py leaves out (issue 12.5):
adding to a position (entry averaging), a partial reduce, a NaN action, leverage above 1 and
a forced close after bankruptcy. Every number is derived here from docs/env.md's rules:
fills at the next open with slippage ``s`` against the trader, fee ``f x |qty| x price``,
target BTC = ``a_pos x leverage x equity(open) / open``."""

import math

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import TradingEnv

from .helpers import price_feature_set

F = 0.001  # fee rate
S = 0.001  # 10 bps slippage
BAL = 10_000.0
FLAT = (1000.0, 1000.0, 1000.0, 1000.0)


def make_env(rows: list[tuple[float, float, float, float]], **overrides: object) -> TradingEnv:
    settings: dict[str, object] = {
        "initial_balance": BAL,
        "leverage_limit": 1.0,
        "max_position_btc": 100.0,
        "exposure_deadzone": 0.05,
        "fee_rate": F,
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


def act(env: TradingEnv, a_pos: float, a_sl: float = -1.0) -> dict:
    return env.step(np.array([a_pos, a_sl], dtype=np.float32))[4]


def test_adding_to_a_long_averages_the_entry_and_keeps_the_stop() -> None:
    env = make_env([FLAT, (1000.0, 1010.0, 995.0, 1005.0), (1010.0, 1020.0, 1008.0, 1015.0)])
    first = act(env, 0.3, -1.0)  # 3 BTC at 1001, stop 1% below: 990.99
    cash1 = BAL - 3 * 1001.0 - F * 3 * 1001.0  # 6,993.997
    assert first["cash"] == pytest.approx(6993.997)
    assert first["stop_price"] == pytest.approx(990.99)
    info = act(env, 0.6, 1.0)  # a wider a_sl does not move the stop of a position it adds to
    equity_open = cash1 + 3 * 1010.0  # 10,023.997 at bar 2's open
    target = 0.6 * equity_open / 1010.0  # 5.954850 BTC
    qty = target - 3.0  # 2.954850 BTC bought
    price = 1010.0 * (1 + S)  # 1,011.01
    assert qty == pytest.approx(2.95484970, rel=1e-8)
    assert info["fill_qty"] == pytest.approx(qty) and info["fill_price"] == pytest.approx(price)
    assert info["position"] == pytest.approx(target)
    entry = (3 * 1001.0 + qty * price) / (3 + qty)  # the size-weighted average: 1,005.97
    assert info["entry_price"] == pytest.approx(entry) and entry == pytest.approx(
        1005.967, abs=1e-3
    )
    assert info["stop_price"] == pytest.approx(990.99)  # kept
    cash2 = cash1 - qty * price - F * qty * price
    assert info["cash"] == pytest.approx(cash2)
    assert info["equity"] == pytest.approx(cash2 + target * 1015.0)


def test_partial_reduce_keeps_entry_and_stop() -> None:
    env = make_env([FLAT, FLAT, (1010.0, 1012.0, 1005.0, 1008.0)])
    first = act(env, 0.5, -1.0)  # 5 BTC at 1001
    info = act(env, 0.2, 1.0)
    equity_open = first["cash"] + 5 * 1010.0  # 4,989.995 + 5,050 = 10,039.995
    target = 0.2 * equity_open / 1010.0  # 1.988118 BTC
    qty = target - 5.0  # -3.011882 BTC sold
    price = 1010.0 * (1 - S)  # 1,008.99
    assert first["cash"] == pytest.approx(4989.995)  # 10,000 - 5,005 - 5.005
    assert info["fill_qty"] == pytest.approx(qty) and qty == pytest.approx(-3.0118822, rel=1e-7)
    assert info["fill_price"] == pytest.approx(price)
    assert info["position"] == pytest.approx(target)
    assert info["entry_price"] == pytest.approx(1001.0)  # a reduce keeps the entry ...
    assert info["stop_price"] == pytest.approx(1001.0 * 0.99)  # ... and the stop
    cash = first["cash"] - qty * price - F * abs(qty) * price
    assert info["fee"] == pytest.approx(F * abs(qty) * price)
    assert info["equity"] == pytest.approx(cash + target * 1008.0)


def test_nan_action_counts_as_zero() -> None:
    env = make_env([FLAT, FLAT, FLAT, (1002.0, 1003.0, 1001.0, 1002.0)])
    nothing = act(env, math.nan, math.nan)  # flat and a_pos NaN -> 0: no order
    assert nothing["fill_qty"] == 0.0 and nothing["equity"] == BAL and nothing["fee"] == 0.0
    opened = act(env, 0.5, math.nan)  # a_sl NaN -> 0: the middle stop, 5.5 % below
    assert opened["fill_qty"] == pytest.approx(5.0)
    assert opened["stop_price"] == pytest.approx(1001.0 * (1 - 0.055))
    closed = act(env, math.nan, 0.7)  # a_pos NaN -> 0: close the long at the open
    price = 1002.0 * (1 - S)  # 1,000.998
    assert closed["fill_qty"] == pytest.approx(-5.0)
    assert closed["fill_price"] == pytest.approx(price)
    assert closed["position"] == 0.0 and closed["entry_price"] == 0.0
    assert closed["stop_price"] == 0.0
    cash = opened["cash"] + 5.0 * price * (1 - F)  # 4,989.995 + 4,999.985
    assert closed["cash"] == pytest.approx(cash) and closed["equity"] == pytest.approx(cash)
    assert cash == pytest.approx(9989.98001, rel=1e-9)


def test_leverage_above_one_borrows_cash() -> None:
    env = make_env([FLAT, (1000.0, 1010.0, 995.0, 1005.0), FLAT], leverage_limit=3.0)
    info = act(env, 0.5, 1.0)
    # 0.5 x 3 x 10,000 / 1,000 = 15 BTC at 1,001: 15,015 of notional on 10,000 of equity
    assert info["fill_qty"] == pytest.approx(15.0)
    assert info["fee"] == pytest.approx(15.015)
    assert info["cash"] == pytest.approx(-5030.015)  # 10,000 - 15,015 - 15.015
    assert info["equity"] == pytest.approx(-5030.015 + 15 * 1005.0)  # 9,044.985
    assert info["stop_price"] == pytest.approx(1001.0 * 0.90)
    # the dead zone scales with leverage too: 0.05 x 3 x equity
    same = act(env, 0.52)  # |target change| x open = 0.06 x equity < 0.15 x equity
    assert same["fill_qty"] == 0.0 and same["position"] == pytest.approx(15.0)


def test_forced_close_after_bankruptcy_sells_at_the_close() -> None:
    crash = (1000.0, 1000.0, 300.0, 320.0)  # low stays above the 90 % stop (100.1)
    env = make_env(
        [FLAT, FLAT, crash, FLAT],
        leverage_limit=3.0,
        min_stop_pct=0.9,
        max_stop_pct=0.9,
        force_close_at_end=True,
    )
    opened = act(env, 0.5)  # 15 BTC at 1,001, cash -5,030.015, stop 100.1
    assert opened["stop_price"] == pytest.approx(100.1)
    env_step = env.step(np.array([0.5, 0.0], dtype=np.float32))  # same target: no order
    _, reward, terminated, truncated, info = env_step
    # marked at 320: -5,030.015 + 15 x 320 = -230.015 <= 0 -> bankrupt; the open position is
    # closed at that bar's close with slippage and fee
    price = 320.0 * (1 - S)  # 319.68
    assert terminated and not truncated and info["bankrupt"] and info["forced_close"]
    assert not info["stop_hit"] and info["fill_qty"] == 0.0
    assert info["close_fill_qty"] == pytest.approx(-15.0)
    assert info["close_fill_price"] == pytest.approx(price)
    assert info["close_fee"] == pytest.approx(F * 15 * price)  # 4.7952
    expected = -5030.015 + 15 * price - F * 15 * price  # -239.6102
    assert info["position"] == 0.0
    assert info["cash"] == pytest.approx(expected) and expected == pytest.approx(-239.6102)
    assert info["equity"] == pytest.approx(expected)
    assert np.isfinite(reward) and reward < 0
