"""Training budget, time split, validation and registration."""

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from btcrl.config.base import Section

#: reward weights a curriculum may drive (EnvConfig fields, reward units)
CURRICULUM_WEIGHTS = ("churn_penalty", "smooth_penalty", "drawdown_penalty")


class CurriculumPhase(Section):
    """One phase of the reward-weight curriculum: from ``start`` to ``end`` (fractions of
    the training run's env-steps, 0..1) each given weight moves linearly from its first to
    its second value. A weight left out (null) keeps the env config's value."""

    name: str = Field(description="label, for logs")
    start: float = Field(ge=0, le=1, description="progress where the phase starts, fraction")
    end: float = Field(gt=0, le=1, description="progress where the phase ends, fraction")
    churn_penalty: tuple[float, float] | None = Field(None, description="(at start, at end)")
    smooth_penalty: tuple[float, float] | None = Field(None, description="(at start, at end)")
    drawdown_penalty: tuple[float, float] | None = Field(None, description="(at start, at end)")

    @model_validator(mode="after")
    def _check(self) -> "CurriculumPhase":
        if self.end <= self.start:
            raise ValueError(f"phase {self.name!r}: end {self.end} is not after start {self.start}")
        for key in CURRICULUM_WEIGHTS:
            pair = getattr(self, key)
            if pair is not None and min(pair) < 0:
                raise ValueError(f"phase {self.name!r}: {key} {pair} is negative")
        return self


#: the preset: Discovery (0-20 %: churn 0 -> 0.10), Discipline (20-60 %: churn 0.10 -> 0.50,
#: smoothness 0 -> 0.02), Consolidation (60-100 %: fixed at churn 0.50, smoothness 0.02)
THREE_PHASE = (
    CurriculumPhase(
        name="discovery", start=0.0, end=0.2, churn_penalty=(0.0, 0.10), smooth_penalty=(0.0, 0.0)
    ),
    CurriculumPhase(
        name="discipline",
        start=0.2,
        end=0.6,
        churn_penalty=(0.10, 0.50),
        smooth_penalty=(0.0, 0.02),
    ),
    CurriculumPhase(
        name="consolidation",
        start=0.6,
        end=1.0,
        churn_penalty=(0.50, 0.50),
        smooth_penalty=(0.02, 0.02),
    ),
)


def check_phases(phases: tuple[CurriculumPhase, ...]) -> None:
    """Phases must follow each other without gaps from progress 0 to 1."""
    if not phases:
        raise ValueError("a curriculum needs at least one phase (or 'off')")
    edge = 0.0
    for phase in phases:
        if phase.start != edge:
            raise ValueError(f"phase {phase.name!r} starts at {phase.start}, expected {edge}")
        edge = phase.end
    if edge != 1.0:
        raise ValueError(f"the last phase ends at {edge}, expected 1.0")


class TrainConfig(Section):
    """How long to train, on which span, and how to validate. Steps are env-steps."""

    total_timesteps: int = Field(65_536, ge=1)
    n_envs: int = Field(64, ge=1, le=65536)
    split_ratio: float = Field(0.75, gt=0, lt=1, description="train fraction of the bars")
    train_end: date | None = Field(None, description="last train day; overrides split_ratio")
    eval_every: int = Field(
        0,
        ge=0,
        description="env-steps between validations; 0 = about ten per run, at whole "
        "rollouts (TrainConfig.validation_interval)",
    )
    best_metric: str = Field("val/sharpe", description="metric that picks the best checkpoint")
    early_stop_patience: int = Field(0, ge=0, description="evaluations without gain; 0 = off")
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads, set by the command or the worker at its start; "
        "0 = torch's default (all cores). 1 is fastest for "
        "the small default MLP: batched env stepping is single-threaded and extra threads "
        "mostly spin (benchmarks/train.py)",
    )
    register_model: bool = Field(True, description="register the model in the MLflow registry")
    log_model: bool = Field(
        True,
        description="log the servable pyfunc model (false only for runs whose model is traded "
        "in memory and never served: tune's inner walk-forward folds); needs register_model=false",
    )
    model_name: str | None = Field(None, description="registry name; default btcrl-<algo>")
    experiment: str = "btcrl-train"
    resume: str | None = Field(None, description="run id to continue from")
    keep: Literal["best", "last"] = Field(
        "best", description="checkpoint that becomes the model: best by best_metric, or last"
    )
    system_metrics: bool = Field(True, description="log CPU/memory as MLflow system metrics")
    seeds: tuple[int, ...] | None = Field(
        (0, 1, 2),
        description="btcrl train's seed ensemble (--seeds 0,1,2, the shipped default chosen by "
        "walk-forward, docs/training.md): one member trained per seed, one registered model "
        "acting with their mean action; null = one model of `seed`",
    )
    curriculum: Literal["off", "three_phase"] | tuple[CurriculumPhase, ...] = Field(
        "three_phase",
        description="reward-weight curriculum over training progress: off, the three_phase "
        "preset (THREE_PHASE), or a list of phases {name, start, end, churn_penalty, "
        "smooth_penalty, drawdown_penalty} covering progress 0..1",
    )

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError(f"seeds must be distinct and at least one, got {list(value)}")
        if value is not None and any(seed < 0 or seed >= 2**31 for seed in value):
            raise ValueError(f"seeds must lie in [0, 2**31): {list(value)}")
        return value

    @field_validator("curriculum", mode="before")
    @classmethod
    def _off_is_false(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @field_validator("curriculum")
    @classmethod
    def _check_phases(cls, value: object) -> object:
        if isinstance(value, tuple):
            check_phases(value)
        return value

    def curriculum_phases(self) -> tuple[CurriculumPhase, ...]:
        """The curriculum's phases; empty when off."""
        if self.curriculum == "off":
            return ()
        if self.curriculum == "three_phase":
            return THREE_PHASE
        return self.curriculum


#: validations per run when ``train.eval_every`` is 0
AUTO_VALIDATIONS = 10


def validation_interval(train: TrainConfig, rollout: int) -> int:
    """Env-steps between validations: ``train.eval_every``, or when it is 0 about
    ``AUTO_VALIDATIONS`` per run, a whole number of rollouts (``rollout`` env-steps: PPO's
    ``n_envs x n_steps``, between which its policy does not change; ``n_envs`` off-policy)."""
    if train.eval_every:
        return train.eval_every
    rollouts = max(1, round(train.total_timesteps / AUTO_VALIDATIONS / rollout))
    return rollouts * rollout


def trained_timesteps(train: TrainConfig, rollout: int) -> int:
    """The env-steps a run trains: ``train.total_timesteps`` rounded up to whole rollouts
    (SB3 finishes the rollout it is in)."""
    return -(-train.total_timesteps // rollout) * rollout
