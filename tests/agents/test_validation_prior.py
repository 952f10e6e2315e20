"""Validation reports the agent beside the prior and buy-and-hold: a residual agent whose
action is 0 is the prior (excess 0), a flat agent's excess is minus the prior's return."""

import math

import numpy as np
import pytest

from btcrl.agents.validation import (
    PRIOR_VALIDATION_METRICS,
    VALIDATION_METRICS,
    evaluate_policy,
)
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
    assert tuple(m) == VALIDATION_METRICS + PRIOR_VALIDATION_METRICS
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


def test_without_prior_columns_there_are_no_prior_figures() -> None:
    candles = load_sample().iloc[:1500]
    config = FeaturesConfig(cache=False, strategies=(), turbulence={"enabled": False})
    fs = build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    m = evaluate_policy(fs, EnvConfig(mode="eval"), _zeros, 8760.0)
    assert tuple(m) == VALIDATION_METRICS
    assert math.isfinite(m["val/bh_total_return"]) and m["val/fills"] == 0.0


def test_a_model_that_never_traded_takes_no_candidate(tiny, sine_features) -> None:  # noqa: ANN001
    from mlflow.tracking import MlflowClient

    from btcrl.agents import run_training
    from btcrl.cli.train import validation_table

    # no target change reaches a 99 % dead zone: the policy never trades
    result = run_training(tiny(**{"env.exposure_deadzone": 0.99}), features=sine_features)
    assert result.metrics["val/fills"] == 0.0 and result.model_version == 1
    client = MlflowClient()
    with pytest.raises(Exception, match="alias candidate not found"):
        client.get_model_version_by_alias("btcrl-ppo", "candidate")
    version = client.get_model_version("btcrl-ppo", "1")
    assert "the agent never traded on validation" in version.description
    lines = validation_table(result.metrics)
    assert lines[-1] == "the agent never traded on validation: it does not take @candidate"
    assert lines[1].startswith("agent ") and "buy-and-hold" in lines[2]  # no prior: no row


def test_the_validation_table_puts_agent_prior_and_buy_and_hold_side_by_side() -> None:
    from btcrl.cli.train import validation_table

    metrics = {
        "val/total_return": 0.10, "val/sharpe": 1.0, "val/max_drawdown": -0.05,
        "val/prior_total_return": 0.08, "val/prior_sharpe": 0.9, "val/prior_max_drawdown": -0.04,
        "val/bh_total_return": 0.20, "val/bh_sharpe": 1.1, "val/bh_max_drawdown": -0.2,
        "val/excess_prior_return": 0.02, "val/excess_prior_sharpe": 0.3,
        "val/excess_prior_psr": 0.61, "val/excess_sharpe": -0.5, "val/excess_psr": 0.27,
        "val/fills": 12.0,
    }  # fmt: skip
    lines = validation_table(metrics)
    assert [line.split()[0] for line in lines[1:4]] == ["agent", "prior", "buy-and-hold"]
    assert "+10.00%" in lines[1] and "+8.00%" in lines[2] and "+20.00%" in lines[3]
    assert lines[4].startswith("agent - prior: return +2.00%") and lines[4].endswith("(PSR 0.61)")
    assert lines[5].startswith("agent - buy-and-hold: return -10.00%")
    assert lines[5].endswith("(PSR 0.27)")
    assert lines[-1] == "fills on validation: 12"
