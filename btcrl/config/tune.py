"""Optuna study settings."""

from typing import Literal

from pydantic import Field

from btcrl.config.base import Section


class TuneConfig(Section):
    """Study, storage, budget and search space."""

    trials: int = Field(20, ge=1)
    study: str = "btcrl"
    storage: str | None = Field(
        None, description="Optuna RDB URL; default sqlite:///studies/<study>.db"
    )
    workers: int = Field(1, ge=1, le=64)
    timeout: float | None = Field(None, gt=0, description="seconds for the whole study")
    metrics: tuple[str, ...] = ("val/sharpe",)
    directions: tuple[Literal["maximize", "minimize"], ...] = ("maximize",)
    space: str | None = Field(
        None, description="YAML search space; default configs/spaces/<algo>.yaml"
    )
    pruner: Literal["median", "hyperband", "none"] = "median"
    register_best: bool = False
    experiment: str = "btcrl-tune"
