"""Validation reports the agent beside the prior and buy-and-hold: a residual agent whose
action is 0 is the prior (excess 0), a flat agent's excess is minus the prior's return."""

import math

import numpy as np
import pytest

from btcrl.agents.validation import VALIDATION_METRICS, evaluate_policy
from btcrl.config import EnvConfig, FeaturesConfig
from btcrl.config.features import PriorConfig
from btcrl.data.sample import load_sample
from btcrl.features import FeatureSet, build_feature_set

PRIOR = PriorConfig(enabled=True, sma_days=(5, 10, 20), vol_window_days=7)


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    candles = load_sample().iloc[:3000]
    config = FeaturesConfig(prior=PRIOR, cache=False, strategies=(), turbulence={"enabled": False})
    return build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def _zeros(obs: np.ndarray) -> np.ndarray:
    return np.zeros((obs.shape[0], 2), np.float32)


def test_zero_residual_is_the_prior_and_flat_trails_it(features: FeatureSet) -> None:
    residual = EnvConfig(action_mode="residual", mode="eval")
    m = evaluate_policy(features, residual, _zeros, 8760.0)
    assert tuple(m) == VALIDATION_METRICS
    assert m["val/fills"] > 10
    assert m["val/excess_prior_return"] == 0.0
    assert m["val/prior_total_return"] == m["val/total_return"]
    assert m["val/prior_sharpe"] == m["val/sharpe"]
    flat = evaluate_policy(features, EnvConfig(mode="eval"), _zeros, 8760.0)
    assert flat["val/fills"] == 0.0 and flat["val/total_return"] == 0.0
    assert flat["val/excess_prior_return"] == pytest.approx(-m["val/prior_total_return"])
    close = features.prices[:, 3]
    first = features.first_valid
    bh = close[-1] / close[first] - 1.0  # from the first observed close to the last
    assert flat["val/bh_total_return"] == pytest.approx(bh, rel=1e-9)
    assert -1.0 < flat["val/bh_max_drawdown"] < 0.0


def test_without_prior_columns_the_prior_figures_are_nan() -> None:
    candles = load_sample().iloc[:1500]
    config = FeaturesConfig(cache=False, strategies=(), turbulence={"enabled": False})
    fs = build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    m = evaluate_policy(fs, EnvConfig(mode="eval"), _zeros, 8760.0)
    assert tuple(m) == VALIDATION_METRICS
    assert math.isnan(m["val/prior_sharpe"]) and math.isnan(m["val/excess_prior_return"])
