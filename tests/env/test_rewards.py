"""The reward registry: exact values against direct formulas."""

import math

import numpy as np
import pytest

from btcrl.config.env import REWARD_NAMES, EnvConfig
from btcrl.env.params import engine_params
from btcrl.env.rewards import (
    BANKRUPTCY_FLOOR,
    RELATIVE_FIRST_ID,
    RELATIVE_REWARDS,
    REWARDS,
    churn_term,
    compute_reward,
    drawdown_term,
    get_reward,
    reward_names,
    shaping,
    smooth_term,
)
from btcrl.errors import ConfigError


def params(**overrides: object) -> np.ndarray:
    return engine_params(EnvConfig(**overrides), steps=10, auto_reset=False)


def test_registry_names_and_ids() -> None:
    assert reward_names()[:3] == ("log_return", "asymmetric_drawdown", "differential_sharpe")
    assert reward_names()[3:] == RELATIVE_REWARDS  # issue 21: relative to the prior
    assert reward_names() == REWARD_NAMES
    assert sorted(spec.id for spec in REWARDS.values()) == [0, 1, 2, 3, 4]
    assert [REWARDS[n].id >= RELATIVE_FIRST_ID for n in REWARDS] == [False] * 3 + [True] * 2
    with pytest.raises(ConfigError, match="'nope'.*log_return"):
        get_reward("nope")


def test_log_return_and_bankruptcy_floor() -> None:
    p = params(reward="log_return")
    assert compute_reward(100.0, 110.0, 0.0, 0.0, p)[0] == pytest.approx(math.log(1.1))
    floor = BANKRUPTCY_FLOOR * 10_000.0
    assert compute_reward(100.0, -5.0, 0.0, 0.0, p)[0] == pytest.approx(math.log(floor / 100.0))


def test_asymmetric_drawdown_weighs_losses_only() -> None:
    p = params(reward="asymmetric_drawdown", downside_weight=3.0)
    assert compute_reward(100.0, 110.0, 0.0, 0.0, p)[0] == pytest.approx(math.log(1.1))
    assert compute_reward(100.0, 90.0, 0.0, 0.0, p)[0] == pytest.approx(3 * math.log(0.9))


def test_differential_sharpe_follows_moody_saffell() -> None:
    eta = 0.1
    p = params(reward="differential_sharpe", dsr_eta=eta)
    equity = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0]
    a = b = 0.0
    for prev, new in zip(equity, equity[1:], strict=False):
        r = math.log(new / prev)
        variance = b - a * a
        expected = 0.0
        if variance > 1e-12:
            expected = (b * (r - a) - 0.5 * a * (r * r - b)) / variance**1.5
        got, a_new, b_new = compute_reward(prev, new, a, b, p)
        assert got == pytest.approx(expected, rel=1e-12)
        a, b = a + eta * (r - a), b + eta * (r * r - b)
        assert (a_new, b_new) == pytest.approx((a, b), rel=1e-12)
    assert compute_reward(100.0, 100.0, 0.0, 0.0, p)[0] == 0.0


def test_shaping_terms_by_hand() -> None:
    assert churn_term(5005.0, 10_000.0) == pytest.approx(0.5005)  # half the book traded
    assert smooth_term(1.0, -1.0) == 4.0 and smooth_term(0.25, 0.25) == 0.0
    assert drawdown_term(80.0, 100.0) == pytest.approx(0.2) and drawdown_term(5.0, 5.0) == 0.0
    p = params(churn_penalty=0.5, smooth_penalty=0.02, drawdown_penalty=0.1)
    total = shaping(5005.0, 10_000.0, 1.0, 0.5, 9_000.0, 10_000.0, p)
    assert total == pytest.approx(0.5 * 0.5005 + 0.02 * 0.25 + 0.1 * 0.1)


def test_shaping_is_zero_with_zero_weights_whatever_the_inputs() -> None:
    nan = float("nan")
    assert shaping(nan, 0.0, nan, nan, nan, 0.0, params()) == 0.0
