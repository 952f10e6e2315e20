"""An encoder policy's compiled episode under the residual action mode (the shipped default):
the embedded head set carries the prior's exposure column, and the books match the same
policy stepped bar by bar through TradingEnv (bundled sample, random encoder and head)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from gymnasium import spaces

from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig, PriorConfig
from btcrl.data.sample import load_sample
from btcrl.encoder.extractor import EncoderExtractor, windowed_observation_size
from btcrl.encoder.model import EncoderShape, MaskedEncoder
from btcrl.env.mlp import IDENTITY, TANH, MlpActor
from btcrl.features import FeatureSet, build_feature_set
from btcrl.policy.encoded import EncodedMlpPolicy
from btcrl.policy.episode import run_episode

WINDOW, D_MODEL = 4, 8


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    candles = load_sample().iloc[:1500]
    prior = PriorConfig(enabled=True, sma_days=(5, 10, 20), vol_window_days=7)
    config = FeaturesConfig(prior=prior, cache=False, strategies=(), turbulence={"enabled": False})
    return build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def _policy(n_features: int) -> EncodedMlpPolicy:
    torch.manual_seed(0)
    shape = EncoderShape(n_features, WINDOW, D_MODEL, 2, 1, 16)
    state = MaskedEncoder(shape).state_dict()
    size = windowed_observation_size(shape)
    box = spaces.Box(-np.inf, np.inf, (size,), np.float32)
    extractor = EncoderExtractor(box, shape.to_dict(), state).eval()
    rng = np.random.default_rng(0)
    weights = (
        rng.normal(0, 0.5, (8, 2 + D_MODEL)).astype(np.float32),
        rng.normal(0, 0.5, (2, 8)).astype(np.float32),
    )
    biases = (np.zeros(8, np.float32), np.zeros(2, np.float32))
    bounds = np.full(2, -1.0, np.float32), np.full(2, 1.0, np.float32)
    actor = MlpActor(weights, biases, (TANH, IDENTITY), False, *bounds)
    return EncodedMlpPolicy(actor, extractor)


@dataclass
class _Stepped:
    """The same policy, stepped bar by bar (not a type run_episode compiles)."""

    policy: EncodedMlpPolicy

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return self.policy.act(row, obs)


def test_residual_encoded_episode_finds_the_prior_and_matches_stepping(
    features: FeatureSet,
) -> None:
    assert "prior_exposure" in features.spec.feature_names
    config = EnvConfig(action_mode="residual", mode="eval", window=WINDOW)
    policy = _policy(features.features.shape[1])
    compiled = run_episode(features, config, policy)
    stepped = run_episode(features, config, _Stepped(policy))
    assert compiled.observations.shape[1] == 2 + WINDOW * features.features.shape[1]
    np.testing.assert_allclose(compiled.actions, policy.forward(compiled.observations), atol=1e-5)
    np.testing.assert_allclose(stepped.actions, compiled.actions, atol=1e-5)
    np.testing.assert_allclose(stepped.equity, compiled.equity, rtol=1e-4)
    assert np.ptp(compiled.equity) > 0  # it traded: the prior moved the book
