"""Walk-forward evaluation settings (docs/walkforward.md)."""

from pydantic import Field, field_validator, model_validator

from btcrl.config.base import Section


class WalkforwardConfig(Section):
    """Calendar-month segments, seeds, job coordination and reporting.

    Months are UTC calendar months; ``embargo_bars`` are bars of ``data.timeframe``.
    """

    train_months: int = Field(18, ge=1, le=600, description="train window incl. validation tail")
    test_months: int = Field(3, ge=1, le=120, description="out-of-sample window per segment")
    step_months: int = Field(3, ge=1, le=120, description="shift between segments (= test_months)")
    val_months: int = Field(
        3, ge=1, le=120, description="validation tail of each train window (picks the checkpoint)"
    )
    anchored: bool = Field(False, description="expanding train windows from the data's start")
    embargo_bars: int = Field(0, ge=0, description="bars left out between train and test")
    seeds: tuple[int, ...] = Field(
        (0, 1, 2), min_length=1, description="one training per seed (the shipped ensemble's)"
    )
    segments: tuple[int, ...] | None = Field(None, description="segment indices to run; None=all")
    workers: int = Field(1, ge=1, le=64, description="worker processes on this machine")
    name: str = Field(
        "btcrl-wf",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="walk-forward name = Optuna study; the same name resumes",
    )
    storage: str | None = Field(
        None, description="Optuna RDB URL; default sqlite:///studies/<name>.db"
    )
    experiment: str = "btcrl-walkforward"
    register_model: bool = Field(True, description="register the latest segment's model")
    model_name: str | None = Field(None, description="registry name; default btcrl-wf-<algo>")
    ensemble: bool = Field(
        True,
        description="with two or more seeds, also stitch their ensemble (mean action of each "
        "segment's seed "
        "models, from the finished jobs: trains nothing; not part of the recipe)",
    )

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds repeat: {list(value)}")
        if any(seed < 0 or seed >= 2**31 for seed in value):
            raise ValueError(f"seeds must lie in [0, 2**31): {list(value)}")
        return value

    @field_validator("segments")
    @classmethod
    def _check_segments(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or any(i < 0 for i in value)):
            raise ValueError(f"segments must be non-negative indices, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _check_windows(self) -> "WalkforwardConfig":
        if self.step_months != self.test_months:
            raise ValueError(
                f"step_months {self.step_months} must equal test_months {self.test_months}: "
                "test windows tile the range without gaps or overlaps"
            )
        if self.val_months >= self.train_months:
            raise ValueError(
                f"val_months {self.val_months} leaves nothing to train on in "
                f"train_months {self.train_months}"
            )
        return self
