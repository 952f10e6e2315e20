"""Fixtures for tune tests: a small config, a temp study store, and a training test double.

``FakeTraining`` stands in for ``btcrl.agents.run_training`` in the fast tests only: it keeps
the documented contract (a nested MLflow run with the extra tags, ``on_validation`` after each
validation, KILLED + ``btcrl.end_reason`` on a stop exception, FAILED on errors) and returns a
deterministic metric of the sampled learning rate, so the study mechanics can be checked in
well under a second per trial. Tests with the real training live in test_integration.py.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus

from btcrl.config import ExperimentConfig, load_config
from btcrl.errors import BtcrlError
from btcrl.tracking import ensure_experiment, tags


@dataclass
class FakeResult:
    """Shape of ``btcrl.agents.TrainResult``."""

    run_id: str
    model_uri: str
    model_version: str | None
    metrics: dict[str, float]


@dataclass
class FakeTraining:
    """Deterministic stand-in for run_training (see module docstring)."""

    score: Callable[[ExperimentConfig], float] = lambda c: (
        -abs(math.log10(c.agent.learning_rate) + 4.0)
    )
    calls: list[ExperimentConfig] = field(default_factory=list)

    def __call__(
        self,
        config: ExperimentConfig,
        *,
        parent_run_id: str | None = None,
        on_validation: Callable[[int, Mapping[str, float]], None] | None = None,
        extra_tags: Mapping[str, str] | None = None,
        stop_exceptions: tuple[type[BaseException], ...] = (),
        **_: Any,
    ) -> FakeResult:
        self.calls.append(config)
        experiment_id = ensure_experiment(config.train.experiment)
        run = mlflow.start_run(
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            nested=True,
            tags={"btcrl.stage": "train", **(extra_tags or {})},
        )
        try:
            final = self.score(config)
            if isinstance(final, BaseException):
                raise final
            total, every = config.train.total_timesteps, config.train.eval_every
            metrics: dict[str, float] = {}
            steps = list(range(every, total + 1, every)) or [total]
            for i, step in enumerate(steps):
                value = final * (i + 1) / len(steps)
                metrics = {"val/sharpe": value, "val/max_drawdown": -abs(value) / 10 - 0.01}
                mlflow.log_metrics(metrics, step=step)
                if on_validation is not None:
                    on_validation(step, metrics)
        except stop_exceptions as exc:
            mlflow.set_tag(tags.END_REASON, f"{type(exc).__name__}: {exc}")
            mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
            raise
        except BaseException:
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
            raise
        mlflow.end_run()
        return FakeResult(run.info.run_id, f"runs:/{run.info.run_id}/model", None, metrics)


def diverge_when_high_lr(config: ExperimentConfig) -> Any:
    """A score function whose 'training' diverges for learning rates above 1e-4."""
    if config.agent.learning_rate > 1e-4:
        return BtcrlError("training diverged: NaN in the policy loss")
    return -abs(math.log10(config.agent.learning_rate) + 4.0)


def tune_config(tmp: Path, *overrides: str) -> ExperimentConfig:
    """A config with a sqlite study in ``tmp`` and a tiny budget."""
    return load_config(
        None,
        [
            f"tune.storage=sqlite:///{tmp / 'studies' / 'test.db'}",
            "tune.study=test",
            "tune.budget_timesteps=400",
            "tune.budget_eval_every=100",
            "tune.budget_n_envs=2",
            "tune.pruner_startup_trials=2",
            "tune.holdout_months=0",
            "tune.objective=holdout",  # FakeTraining stands in for one training per trial
            *overrides,
        ],
    )
