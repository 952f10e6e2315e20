"""The typed config tree (docs/internals.md, config)."""

from btcrl.config.agent import AgentConfig
from btcrl.config.backtest import BacktestConfig
from btcrl.config.data import DataConfig
from btcrl.config.env import EnvConfig
from btcrl.config.experiment import ExperimentConfig
from btcrl.config.features import ExternalSeriesConfig, FeaturesConfig, TurbulenceConfig
from btcrl.config.loader import (
    build_config,
    dump_config,
    flatten_config,
    load_config,
    with_overrides,
)
from btcrl.config.tracking import TrackingConfig
from btcrl.config.train import TrainConfig
from btcrl.config.tune import TuneConfig
from btcrl.config.walkforward import WalkforwardConfig

__all__ = [
    "AgentConfig",
    "BacktestConfig",
    "DataConfig",
    "EnvConfig",
    "ExperimentConfig",
    "ExternalSeriesConfig",
    "FeaturesConfig",
    "TrackingConfig",
    "TrainConfig",
    "TuneConfig",
    "TurbulenceConfig",
    "WalkforwardConfig",
    "build_config",
    "dump_config",
    "flatten_config",
    "load_config",
    "with_overrides",
]
