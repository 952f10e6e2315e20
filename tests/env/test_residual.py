"""The residual action mode: action 0 trades the trend_voltarget prior bit for bit (the
compiled runner and TradingEnv stepping alike); other actions move the target off it by at
most ``residual_limit``; the mode needs the prior's column."""

import math
from dataclasses import replace

import numpy as np
import pytest

from btcrl.config import EnvConfig, ExperimentConfig, FeaturesConfig, with_overrides
from btcrl.config.features import PriorConfig
from btcrl.data.sample import load_sample
from btcrl.env import LEDGER_FIELDS, TradingEnv
from btcrl.env.params import feature_params
from btcrl.errors import ConfigError
from btcrl.features import FeatureSet, build_feature_set
from btcrl.policy.episode import backtest_env_config, run_episode
from btcrl.policy.policies import ModelPolicy, rule_env, rule_policy

TARGET = LEDGER_FIELDS.index("target_exposure")
REWARD = LEDGER_FIELDS.index("reward")
PRIOR = PriorConfig(enabled=True, sma_days=(5, 10, 20), vol_window_days=7)


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    candles = load_sample().iloc[:3000]
    config = FeaturesConfig(prior=PRIOR, cache=False, strategies=(), turbulence={"enabled": False})
    return build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def _residual(**update: object) -> EnvConfig:
    env = EnvConfig(action_mode="residual", residual_limit=0.25, **update)  # type: ignore[arg-type]
    return backtest_env_config(env, True)


def _constant(action: float) -> ModelPolicy:
    return ModelPolicy(lambda obs: np.full((obs.shape[0], 2), action, np.float32), name="c")


def test_zero_action_ledger_equals_the_prior_backtest_bit_for_bit(features: FeatureSet) -> None:
    prior_env = backtest_env_config(rule_env(EnvConfig()), True)
    prior = run_episode(features, prior_env, rule_policy("trend_voltarget", features, prior_env))
    zero = run_episode(features, _residual(), rule_policy("flat", features, _residual()))
    assert prior.ledger.shape == zero.ledger.shape
    np.testing.assert_array_equal(zero.ledger, prior.ledger)
    fills = np.count_nonzero(prior.ledger[:, LEDGER_FIELDS.index("fill_qty")])
    assert fills > 10  # the prior trades: the comparison is not of two flat books


def test_zero_action_stepped_through_trading_env_is_the_same_ledger(features: FeatureSet) -> None:
    compiled = run_episode(features, _residual(), rule_policy("flat", features, _residual()))
    env = TradingEnv(features, _residual(), mode="backtest")
    env.reset(seed=0)
    rows = []
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
        rows.append(env.ledger.copy())
        done = terminated or truncated
    np.testing.assert_array_equal(np.vstack(rows), compiled.ledger)


def test_action_moves_the_target_off_the_prior_within_the_limit(features: FeatureSet) -> None:
    zero = run_episode(features, _residual(), _constant(0.0))
    for action in (1.0, -1.0, 0.4):
        moved = run_episode(features, _residual(), _constant(action))
        want = np.clip(zero.ledger[:, TARGET] + 0.25 * action, 0.0, 1.0)
        np.testing.assert_allclose(moved.ledger[:, TARGET], want, atol=1e-6)
    shorts = run_episode(features, _residual(allow_short=True), _constant(-1.0))
    assert shorts.ledger[:, TARGET].min() < 0.0


def test_residual_mode_needs_the_prior_column(features: FeatureSet) -> None:
    spec = replace(features.spec, columns=features.spec.columns[:-1])
    with pytest.raises(ConfigError, match="features.prior.enabled"):
        feature_params(_residual(), replace(features, spec=spec), 10, False)
    with pytest.raises(ConfigError, match="features.prior.enabled"):
        with_overrides(
            ExperimentConfig(), {"env.action_mode": "residual", "features.prior.enabled": False}
        )
    shipped = ExperimentConfig()  # the shipped default: residual around the prior
    assert shipped.env.action_mode == "residual" and shipped.features.prior.enabled
    assert ExperimentConfig(features=FeaturesConfig()).env.action_mode == "absolute"
    assert EnvConfig().action_mode == "absolute"
    with pytest.raises(ValueError, match="exclude each other"):
        EnvConfig(action_mode="residual", action_levels=[0.0, 1.0])


def _hand_prior_return(features: FeatureSet, bar: int, env: EnvConfig) -> float:
    col = features.spec.feature_names.index("prior_exposure")
    p1, p0 = float(features.features[bar - 1, col]), float(features.features[bar - 2, col])
    o, c, c_prev = features.prices[bar, 0], features.prices[bar, 3], features.prices[bar - 1, 3]
    cost = (env.fee_rate + env.slippage_bps / 1e4) * abs(p1 - p0)
    return math.log((1 + p0 * (o / c_prev - 1) - cost) * (1 + p1 * (c / o - 1)))


@pytest.mark.parametrize("action", [0.0, 0.8])
def test_excess_reward_is_the_log_return_minus_the_priors(features: FeatureSet, action) -> None:
    plain = run_episode(features, _residual(), _constant(action))
    excess = run_episode(features, _residual(reward="excess_log_return"), _constant(action))
    np.testing.assert_array_equal(excess.ledger[:, :REWARD], plain.ledger[:, :REWARD])
    bars = plain.ledger[:, 0].astype(int)
    prior = np.array([_hand_prior_return(features, b, _residual()) for b in bars])
    np.testing.assert_allclose(
        excess.ledger[:, REWARD], plain.ledger[:, REWARD] - prior, rtol=0, atol=1e-12
    )
    if action == 0.0:  # the agent is the prior: it adds about nothing over the episode
        assert abs(excess.ledger[:, REWARD].sum()) < 0.02
    sharpe = run_episode(
        features, _residual(reward="excess_differential_sharpe"), _constant(action)
    )
    assert np.isfinite(sharpe.ledger[:, REWARD]).all()
    with pytest.raises(ConfigError, match="relative to the prior"):
        spec = replace(features.spec, columns=features.spec.columns[:-1])
        feature_params(
            EnvConfig(reward="excess_log_return"), replace(features, spec=spec), 9, False
        )
