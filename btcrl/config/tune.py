"""Optuna study settings."""

from typing import Literal

from pydantic import Field

from btcrl.config.base import Section


class TuneConfig(Section):
    """Study, storage, budget and search space. Times are seconds, budgets env-steps."""

    trials: int = Field(20, ge=1, description="trials run by this invocation (all its workers)")
    study: str = Field(
        "btcrl",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="Optuna study name: letters, digits, '.', '_', '-' (names a file)",
    )
    storage: str | None = Field(
        None, description="Optuna RDB URL; default sqlite:///studies/<study>.db"
    )
    workers: int = Field(1, ge=1, le=64, description="worker processes on this machine")
    timeout: float | None = Field(None, gt=0, description="seconds for the whole invocation")
    metrics: tuple[str, ...] = Field(("val/sharpe",), min_length=1)
    directions: tuple[Literal["maximize", "minimize"], ...] = Field(("maximize",), min_length=1)
    space: str | None = Field(
        None, description="YAML search space; default configs/spaces/<algo>.yaml"
    )
    pruner: Literal["median", "hyperband", "none"] = "median"
    pruner_startup_trials: int = Field(
        3, ge=0, description="median pruner: complete trials before pruning starts"
    )
    register_best: bool = False
    experiment: str = "btcrl-tune"
    budget_timesteps: int | None = Field(
        20_000, ge=1, description="env-steps per trial (quick budget); None = train.total_timesteps"
    )
    budget_eval_every: int | None = Field(
        5_000, ge=1, description="env-steps between validations in a trial; None = train's"
    )
    budget_n_envs: int | None = Field(
        16, ge=1, description="parallel envs per trial; None = train.n_envs"
    )
    heartbeat_interval: int = Field(30, ge=1, description="RDB heartbeat period, seconds")
    grace_period: int | None = Field(
        None, ge=1, description="seconds without heartbeat before a trial is failed; 2 x interval"
    )
    max_retry: int = Field(2, ge=0, description="retries of a trial whose worker died")
