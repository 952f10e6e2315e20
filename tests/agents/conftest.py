"""Fixtures for agent tests: tiny, fast configs and noise-free synthetic feature sets."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_data import sine_feature_set, tiny_config

from btcrl.features.spec import FeatureSet


@pytest.fixture(scope="session")
def sine_features() -> FeatureSet:
    return sine_feature_set()


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
