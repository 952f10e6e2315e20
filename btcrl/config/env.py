"""Trading rules and costs of the environment and the trade engine."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from btcrl.config.base import Section

# Names in the reward registry (btcrl.env.rewards.REWARDS; a test keeps the two equal).
REWARD_NAMES = ("log_return", "asymmetric_drawdown", "differential_sharpe")


class EnvConfig(Section):
    """Account, sizing, costs, stops and reward. Fractions are fractions (0.001 = 0.1 %)."""

    initial_balance: float = Field(10_000.0, gt=0, description="starting cash, quote currency")
    leverage_limit: float = Field(1.0, gt=0, le=10, description="max |exposure| / equity")
    max_position_btc: float = Field(1.0, gt=0, description="cap on |position|, base units")
    exposure_deadzone: float = Field(
        0.05, ge=0, lt=1, description="min change of target exposure, fraction of leverage x equity"
    )
    fee_rate: float = Field(0.001, ge=0, lt=0.1, description="fee per fill, fraction of notional")
    slippage_bps: float = Field(2.0, ge=0, le=500, description="slippage against the trader, bps")
    min_stop_pct: float = Field(0.01, gt=0, lt=1, description="tightest stop, fraction of entry")
    max_stop_pct: float = Field(0.10, gt=0, lt=1, description="widest stop, fraction of entry")
    episode_length: int = Field(720, ge=2, description="bars per training episode")
    force_close_at_end: bool = Field(True, description="close the position on the last bar")
    reward: str = Field(
        "log_return", description=f"name in the reward registry: {', '.join(REWARD_NAMES)}"
    )
    downside_weight: float = Field(2.0, ge=0, description="asymmetric_drawdown: loss multiplier")
    dsr_eta: float = Field(0.01, gt=0, lt=1, description="differential Sharpe: EMA rate")
    reward_scale: float = Field(1.0, gt=0, description="multiplier on the reward")
    allow_short: bool = Field(True, description="negative a_pos opens shorts")
    mode: Literal["train", "eval", "backtest"] = "train"

    @field_validator("reward")
    @classmethod
    def _check_reward(cls, value: str) -> str:
        if value not in REWARD_NAMES:
            raise ValueError(f"unknown reward; choose one of {', '.join(REWARD_NAMES)}")
        return value

    @model_validator(mode="after")
    def _check_stops(self) -> "EnvConfig":
        if self.max_stop_pct < self.min_stop_pct:
            raise ValueError(
                f"max_stop_pct {self.max_stop_pct} is below min_stop_pct {self.min_stop_pct}"
            )
        return self
