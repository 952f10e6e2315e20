"""Trading rules and costs of the environment and the trade engine."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from btcrl.config.base import Section

# Names in the reward registry (btcrl.env.rewards.REWARDS; a test keeps the two equal).
REWARD_NAMES = (
    "log_return",
    "asymmetric_drawdown",
    "differential_sharpe",
    "excess_log_return",
    "excess_differential_sharpe",
)
# Most target levels of the discrete action mode (btcrl.env.layout.MAX_ACTION_LEVELS; a test
# keeps the two equal: config sits below env in the import order).
MAX_ACTION_LEVELS = 9
# Every EnvConfig field is a cost or a rule (a test checks each is in exactly one tuple):
#: what trading costs on the venue: a backtest of a model may use other values than the
#: model was trained with (btcrl.backtest.model_source), and logs the values it used
COST_FIELDS = ("fee_rate", "slippage_bps", "borrow_rate_annual")
#: the rules the policy was trained with (account, sizing, stops, action mode, observation,
#: reward): a backtest trades the model under its own and refuses another value
RULE_FIELDS = (
    "initial_balance",
    "leverage_limit",
    "max_position_btc",
    "exposure_deadzone",
    "min_stop_pct",
    "max_stop_pct",
    "episode_length",
    "force_close_at_end",
    "reward",
    "downside_weight",
    "dsr_eta",
    "reward_scale",
    "allow_short",
    "churn_penalty",
    "smooth_penalty",
    "drawdown_penalty",
    "target_volatility",
    "vol_window",
    "max_leverage",
    "vol_floor",
    "hysteresis_bars",
    "decision_interval",
    "action_levels",
    "observation_account",
    "mode",
    "window",
    "action_mode",
    "prior",
    "residual_limit",
)


class EnvConfig(Section):
    """Account, sizing, costs, stops and reward. Fractions are fractions (0.001 = 0.1 %)."""

    initial_balance: float = Field(10_000.0, gt=0, description="starting cash, quote currency")
    leverage_limit: float = Field(1.0, gt=0, le=10, description="max |exposure| / equity")
    max_position_btc: float | None = Field(
        None,
        gt=0,
        description="cap on |position|, base units (BTC); null = no cap, the size follows "
        "leverage_limit x equity (a fixed cap binds whenever the price falls below equity)",
    )
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
    allow_short: bool = Field(
        False, description="negative a_pos opens shorts (false: negative means flat)"
    )
    churn_penalty: float = Field(
        0.0, ge=0, le=100, description="reward minus this x agent order notional / equity, per step"
    )
    smooth_penalty: float = Field(
        0.0, ge=0, le=100, description="reward minus this x (change of target exposure)^2"
    )
    drawdown_penalty: float = Field(
        0.0, ge=0, le=100, description="reward minus this x (1 - equity / episode peak), per step"
    )
    target_volatility: float | None = Field(
        None,
        gt=0,
        le=10,
        description="annualised vol target (per-bar std x sqrt(bars per year)); null = off. "
        "Scales the target by min(max_leverage, target / realised vol)",
    )
    vol_window: int = Field(
        24, ge=2, le=10_000, description="bars of close-to-close log returns in realised vol"
    )
    max_leverage: float = Field(
        2.0, gt=0, le=10, description="cap on the vol-targeting multiplier (x leverage_limit)"
    )
    vol_floor: float = Field(
        0.05, gt=0, le=10, description="floor on the realised vol, annualised like the target"
    )
    borrow_rate_annual: float = Field(
        0.08,
        ge=0,
        le=1,
        description="annual borrow / funding rate on shorts and on borrowed cash of a leveraged "
        "long, fraction; charged per bar as rate / bars per year",
    )
    hysteresis_bars: int = Field(
        1,
        ge=1,
        le=1000,
        description="trade only once the wanted change kept its sign this many bars (1 = off)",
    )
    decision_interval: int = Field(
        1, ge=1, le=1000, description="the agent's order is placed every this many bars"
    )
    action_levels: list[float] | None = Field(
        None,
        description="discrete action mode: the target exposures an order may aim at, ascending "
        "in [-1, 1] (e.g. [0, 1] flat/long, [-1, 0, 1] short/flat/long, [0, 0.5, 1] with "
        "sizes); a_pos snaps to the nearest (ties to the one nearer flat). null = continuous",
    )
    observation_account: Literal["legacy", "scale_free"] = Field(
        "legacy",
        description="legacy: cash / initial_balance and position / max_position_btc (position "
        "x close / equity without a cap); "
        "scale_free: cash / equity and position x close / equity",
    )
    # --- residual action mode (issue 21; docs/env.md "Residual action mode") -----------
    action_mode: Literal["absolute", "residual"] = Field(
        "absolute",
        description="absolute: a_pos is the target exposure; residual: the target is "
        "clip(prior + residual_limit x a_pos), so action 0 trades the prior exactly",
    )
    prior: Literal["trend_voltarget"] = Field(
        "trend_voltarget",
        description="the prior a residual agent acts around (its columns: features.prior)",
    )
    residual_limit: float = Field(
        0.5, gt=0, le=2, description="residual mode: most the agent moves the target off the prior"
    )
    mode: Literal["train", "eval", "backtest"] = "train"
    window: int = Field(
        1,
        ge=1,
        le=1024,
        description="bars of features per observation: rows t-W+1..t (1 = the current row); "
        "episodes start W-1 bars after the first valid row",
    )

    @field_validator("reward")
    @classmethod
    def _check_reward(cls, value: str) -> str:
        if value not in REWARD_NAMES:
            raise ValueError(f"unknown reward; choose one of {', '.join(REWARD_NAMES)}")
        return value

    @field_validator("action_levels")
    @classmethod
    def _check_levels(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if not 2 <= len(value) <= MAX_ACTION_LEVELS:
            raise ValueError(f"needs 2 to {MAX_ACTION_LEVELS} levels, got {len(value)}")
        if any(not -1.0 <= v <= 1.0 for v in value):
            raise ValueError(f"levels must lie in [-1, 1], got {value}")
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"levels must be strictly ascending, got {value}")
        return value

    @model_validator(mode="after")
    def _check_stops(self) -> "EnvConfig":
        if self.max_stop_pct < self.min_stop_pct:
            raise ValueError(
                f"max_stop_pct {self.max_stop_pct} is below min_stop_pct {self.min_stop_pct}"
            )
        if self.action_mode == "residual" and self.action_levels:
            raise ValueError(
                f"action_levels {self.action_levels} and action_mode residual exclude each other "
                "(the discrete action mode needs env.action_mode=absolute)"
            )
        if self.action_levels and not self.allow_short and self.action_levels[0] < 0:
            raise ValueError(
                f"action_levels {self.action_levels} include shorts but allow_short is false"
            )
        return self
