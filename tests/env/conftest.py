"""Fixtures for the env tests: FeatureSets over the bundled real candles."""

import pytest

from btcrl.data.sample import load_sample
from btcrl.features.spec import FeatureSet

from .helpers import simple_feature_set


@pytest.fixture(scope="session")
def real_features() -> FeatureSet:
    """Simple causal features over the bundled Binance BTC/USDT 1h candles (2022-2025)."""
    return simple_feature_set(load_sample())


@pytest.fixture(scope="session")
def short_real_features(real_features: FeatureSet) -> FeatureSet:
    """The first 3,000 rows of ``real_features``."""
    return real_features.rows(0, 3000)
