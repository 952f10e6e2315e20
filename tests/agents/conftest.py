"""Fixtures for agent tests: tiny, fast configs and noise-free synthetic feature sets."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_data import sine_feature_set

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.features.spec import FeatureSet


@pytest.fixture(scope="session")
def sine_features() -> FeatureSet:
    return sine_feature_set()


def tiny_config(tracking_uri: str, **values: Any) -> ExperimentConfig:
    """A config that trains in seconds: few envs, short rollouts, frequent validation."""
    base = {
        "tracking.uri": tracking_uri,
        "train.total_timesteps": 2048,
        "train.n_envs": 8,
        "train.eval_every": 1024,
        "train.system_metrics": False,
        "train.torch_threads": 1,
        "env.episode_length": 128,
        "agent.n_steps": 64,
        "agent.batch_size": 256,
        "agent.n_epochs": 2,
        "agent.net_arch": [32, 32],
        "agent.buffer_size": 5000,
        "agent.learning_starts": 256,
        "agent.off_policy_batch_size": 64,
        "agent.device": "cpu",
        # the fixtures' feature sets carry no prior: the plain action mode (the residual
        # mode of the shipped default has its own tests: tests/env/test_residual.py)
        "env.action_mode": "absolute",
        "features.prior.enabled": False,
        # an untrained policy's small targets still trade: a model that never traded on
        # validation is registered without @candidate (tests/agents/test_validation_prior.py)
        "env.exposure_deadzone": 0.0,
    }
    base.update(values)
    return with_overrides(ExperimentConfig(), base)


@pytest.fixture
def tiny(tracking_uri: str) -> Iterator[Any]:
    """``tiny(**overrides)`` -> a fast ExperimentConfig logging into the test's store."""
    yield lambda **values: tiny_config(tracking_uri, **values)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A candle store and feature cache shared by the tests of a session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def sample_features(sample_data_dir: Path) -> FeatureSet:
    """The bundled sample's default features, 2025-01-01 onwards (about 2,150 bars)."""
    from btcrl.config import DataConfig, FeaturesConfig
    from btcrl.features import load_feature_set

    data = DataConfig(data_dir=sample_data_dir, start="2025-01-01")
    return load_feature_set(data, FeaturesConfig())
