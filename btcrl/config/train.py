"""Training budget, time split, validation and registration."""

from datetime import date
from typing import Literal

from pydantic import Field

from btcrl.config.base import Section


class TrainConfig(Section):
    """How long to train, on which span, and how to validate. Steps are env-steps."""

    total_timesteps: int = Field(200_000, ge=1)
    n_envs: int = Field(64, ge=1, le=65536)
    split_ratio: float = Field(0.75, gt=0, lt=1, description="train fraction of the bars")
    train_end: date | None = Field(None, description="last train day; overrides split_ratio")
    eval_every: int = Field(50_000, ge=1, description="env-steps between validations")
    best_metric: str = Field("val/sharpe", description="metric that picks the best checkpoint")
    early_stop_patience: int = Field(0, ge=0, description="evaluations without gain; 0 = off")
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads; 0 = torch's default (all cores). 1 is fastest for "
        "the small default MLP: batched env stepping is single-threaded and extra threads "
        "mostly spin (benchmarks/train.py)",
    )
    register_model: bool = Field(True, description="register the model in the MLflow registry")
    model_name: str | None = Field(None, description="registry name; default btcrl-<algo>")
    experiment: str = "btcrl-train"
    resume: str | None = Field(None, description="run id to continue from")
    keep: Literal["best", "last"] = Field(
        "best", description="checkpoint that becomes the model: best by best_metric, or last"
    )
    system_metrics: bool = Field(True, description="log CPU/memory as MLflow system metrics")
