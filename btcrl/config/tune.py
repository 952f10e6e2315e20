"""Optuna study settings."""

from typing import Any, Literal

from pydantic import Field, model_validator

from btcrl.config.base import Section

#: the metric each objective tunes when ``tune.metrics`` is empty
DEFAULT_METRICS = {"walkforward": ("oos/sharpe",), "holdout": ("val/sharpe",)}


class TuneConfig(Section):
    """Study, storage, budget and search space. Times are seconds, budgets env-steps."""

    trials: int = Field(20, ge=1, description="trials run by this invocation (all its workers)")
    study: str = Field(
        "btcrl",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="Optuna study name: letters, digits, '.', '_', '-' (names a file)",
    )
    storage: str | None = Field(
        None,
        description="Optuna RDB URL; default sqlite:///studies/<study>.db, or "
        "<store dir>/studies/<study>.db beside another sqlite tracking store",
    )
    workers: int = Field(1, ge=1, le=64, description="worker processes on this machine")
    timeout: float | None = Field(None, gt=0, description="seconds for the whole invocation")
    objective: Literal["walkforward", "holdout"] = Field(
        "walkforward",
        description="walkforward: stitched out-of-sample over inner folds; holdout: one "
        "validation span",
    )
    metrics: tuple[str, ...] = Field(
        (), description="metrics to optimise; empty = oos/sharpe (walkforward) or val/sharpe"
    )
    directions: tuple[Literal["maximize", "minimize"], ...] = Field(("maximize",), min_length=1)
    inner_folds: int = Field(4, ge=2, le=24, description="walkforward objective: folds K")
    holdout_months: int = Field(
        3, ge=0, le=120, description="final whole months tuning never sees; 0 = none"
    )
    min_exposure: float = Field(
        0.0, ge=0.0, le=1.0, description="excess_sharpe: floor on mean |exposure| (fraction)"
    )
    pbo_partitions: int = Field(16, ge=2, le=24, description="CSCV blocks S (even)")
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
        200_000,
        ge=1,
        description="env-steps per trial (the walkforward objective splits them over its folds; "
        "docs/tune.md 'The default budget'); None = train.total_timesteps",
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

    @model_validator(mode="before")
    @classmethod
    def _default_metrics(cls, data: Any) -> Any:
        """Empty ``metrics``: the objective's default (``DEFAULT_METRICS``)."""
        if isinstance(data, dict) and not data.get("metrics"):
            objective = data.get("objective", "walkforward")
            data = {**data, "metrics": DEFAULT_METRICS.get(objective, ("val/sharpe",))}
        return data

    @model_validator(mode="after")
    def _even_partitions(self) -> "TuneConfig":
        if self.pbo_partitions % 2:
            raise ValueError(f"pbo_partitions must be even, got {self.pbo_partitions}")
        return self
