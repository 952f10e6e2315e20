"""The root of the config tree."""

from pydantic import Field, model_validator

from btcrl.config.agent import AgentConfig
from btcrl.config.backtest import BacktestConfig
from btcrl.config.base import Section
from btcrl.config.data import DataConfig
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.config.pretrain import PretrainConfig
from btcrl.config.promote import PromoteConfig
from btcrl.config.tracking import TrackingConfig
from btcrl.config.train import TrainConfig
from btcrl.config.tune import TuneConfig
from btcrl.config.walkforward import WalkforwardConfig


class ExperimentConfig(Section):
    """Everything a run needs; sub-configs are handed to the functions that use them."""

    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    env: EnvConfig = EnvConfig()
    agent: AgentConfig = AgentConfig()
    train: TrainConfig = TrainConfig()
    backtest: BacktestConfig = BacktestConfig()
    tune: TuneConfig = TuneConfig()
    promote: PromoteConfig = PromoteConfig()
    walkforward: WalkforwardConfig = WalkforwardConfig()
    pretrain: PretrainConfig = PretrainConfig()
    tracking: TrackingConfig = TrackingConfig()
    seed: int = Field(42, ge=0, lt=2**31)

    @model_validator(mode="after")
    def _check_prior(self) -> "ExperimentConfig":
        if self.env.action_mode == "residual" and not self.features.prior.enabled:
            raise ValueError(
                f"env.action_mode residual trades around env.prior {self.env.prior!r}, whose "
                "columns need features.prior.enabled: true"
            )
        return self
