"""What the agent observes: causal, normalised, cached market features.

``build_feature_set(candles, config, exchange=, symbol=, timeframe=, data_dir=, fit_end=,
fitted=)``, ``load_feature_set(data, features, fit_end=, fitted=)``, ``feature_table(fs)``,
``feature_stats(fs)``; the FeatureSpec / FeatureSet contract is in ``btcrl.features.spec``.
"""

from btcrl.features.build import build_feature_set
from btcrl.features.load import load_feature_set, warmup_bars
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec, FittedParams
from btcrl.features.table import feature_stats, feature_table

__all__ = [
    "ColumnSpec",
    "FeatureSet",
    "FeatureSpec",
    "FittedParams",
    "build_feature_set",
    "feature_stats",
    "feature_table",
    "load_feature_set",
    "warmup_bars",
]
