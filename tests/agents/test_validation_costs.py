"""Validation reports what the trades made before costs next to what they made after them."""

import numpy as np
import pytest

from btcrl.agents.split import split_feature_set
from btcrl.agents.validation import evaluate_policy, score_episode
from btcrl.config import EnvConfig
from btcrl.features.spec import FeatureSet


def _mostly_long(obs: np.ndarray) -> np.ndarray:
    return np.tile(np.array([0.95, 1.0], np.float32), (len(obs), 1))


def test_return_before_costs_is_the_cost_free_return_of_the_same_trades(
    sine_features: FeatureSet,
) -> None:
    """One buy and the forced close (a 90 % dead zone stops every resize, 95 % long borrows
    nothing, the stop sits at 1 % of the entry): the costly episode trades the same BTC as a
    cost-free one, so its return before fees and slippage is the cost-free return."""
    span = split_feature_set(sine_features, 0.9).validation
    rules = {
        "exposure_deadzone": 0.9,
        "allow_short": False,
        "borrow_rate_annual": 0.08,
        "min_stop_pct": 0.98,
        "max_stop_pct": 0.99,
    }
    costly = EnvConfig(fee_rate=0.001, slippage_bps=5.0, **rules)
    free = EnvConfig(fee_rate=0.0, slippage_bps=0.0, **rules)
    paid = evaluate_policy(span, costly, _mostly_long, 8760.0)
    gross = evaluate_policy(span, free, _mostly_long, 8760.0)
    assert paid["val/trades"] == gross["val/trades"] == 1.0
    assert paid["val/fees"] > 0 and paid["val/slippage"] > 0 and paid["val/carry"] == 0.0
    assert gross["val/costs"] == 0.0
    assert gross["val/return_before_costs"] == gross["val/total_return"]
    assert paid["val/total_return"] < gross["val/total_return"]
    assert paid["val/return_before_costs"] == pytest.approx(gross["val/total_return"], abs=1e-12)


def test_costs_by_hand() -> None:
    n = 4
    episode = {
        "equity": np.array([1000.0, 990.0, 1000.0, 1020.0, 1010.0]),
        "position": np.zeros(n),
        "close": np.full(n, 100.0),
        "prev_close": np.array([100.0]),
        "notional": np.zeros(n),
        "stop_hits": np.zeros(n, bool),
        "trades": np.zeros(n, np.int64),
        "fees": np.array([2.0, 0.0, 0.0, 3.0]),
        "slippage": np.array([0.5, 0.0, 0.0, 0.5]),
        "carry": np.array([0.1, 0.1, 0.1, 0.2]),
    }
    metrics = score_episode(episode, 8760.0)
    assert metrics["fees"] == pytest.approx(0.005)
    assert metrics["slippage"] == pytest.approx(0.001)
    assert metrics["carry"] == pytest.approx(0.0005)
    assert metrics["costs"] == pytest.approx(0.0065)
    assert metrics["return_before_costs"] == pytest.approx(0.01 + 0.0065)
