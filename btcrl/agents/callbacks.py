"""SB3 callbacks of a btcrl training run: validation + checkpoints, divergence, progress lines."""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import BaseCallback

from btcrl.agents.validation import evaluate_policy
from btcrl.config import EnvConfig
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSet
from btcrl.policy.act import deterministic_act
from btcrl.tracking import log_artifact, log_metrics

log = logging.getLogger(__name__)

ValidationHook = Callable[[int, dict[str, float]], None]
#: validation metrics where lower is better; every other one is maximised
MINIMISED = frozenset({"val/annual_volatility", "val/max_drawdown_duration", "val/trades"})


class TrainingDivergedError(BtcrlError):
    """Training produced NaN/inf weights or losses."""


class ValidationCallback(BaseCallback):
    """Every ``eval_every`` env-steps: score the deterministic policy on the validation span,
    log ``val/*`` to MLflow at the current step, save ``last.zip`` (and ``best.zip`` when
    ``best_metric`` improves) under ``checkpoint_dir`` and copy them to the run's
    ``checkpoints/`` artifacts, call ``on_validation``, and stop after ``patience``
    validations without improvement (0 = never)."""

    def __init__(
        self,
        validation: FeatureSet,
        env_config: EnvConfig,
        periods_per_year: float,
        eval_every: int,
        best_metric: str,
        checkpoint_dir: Path,
        run_id: str,
        patience: int = 0,
        on_validation: ValidationHook | None = None,
    ) -> None:
        super().__init__()
        self.validation = validation
        self.env_config = env_config
        self.periods_per_year = periods_per_year
        self.eval_every = eval_every
        self.best_metric = best_metric
        self.checkpoint_dir = checkpoint_dir
        self.run_id = run_id
        self.patience = patience
        self.on_validation = on_validation
        self.last_eval_step = -1
        self.best_value = -math.inf
        self.best_metrics: dict[str, float] = {}
        self.best_step = -1
        self.last_metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self.stale = 0

    @property
    def best_path(self) -> Path:
        return self.checkpoint_dir / "best.zip"

    @property
    def last_path(self) -> Path:
        return self.checkpoint_dir / "last.zip"

    def _on_training_start(self) -> None:
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if self.last_eval_step < 0:
            self.last_eval_step = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_eval_step < self.eval_every:
            return True
        return self.validate()

    def validate(self) -> bool:
        """Score, log, checkpoint and report once; False asks SB3 to stop (early stop)."""
        step = int(self.num_timesteps)
        self.last_eval_step = step
        model = self.model
        metrics = evaluate_policy(
            self.validation,
            self.env_config,
            deterministic_act(model),
            self.periods_per_year,
        )
        _check_finite_weights(model.policy, step)
        self.last_metrics = metrics
        self.history.append({"timesteps": float(step), **metrics})
        log_metrics(metrics, step=step, run_id=self.run_id)
        score = self._score(metrics)
        improved = score > self.best_value or self.best_step < 0  # the first is the best yet
        model.save(self.last_path)
        if improved:
            self.best_value, self.best_metrics, self.best_step = score, metrics, step
            model.save(self.best_path)
            self.stale = 0
        else:
            self.stale += 1
        saved = [self.last_path] + ([self.best_path] if improved else [])
        for path in saved:
            log_artifact(path, "checkpoints", run_id=self.run_id)
        log.info("validation at %d steps: %s", step, _short(metrics))
        if self.on_validation is not None:
            self.on_validation(step, dict(metrics))
        if self.patience and self.stale >= self.patience:
            log.info(
                "early stop: %s did not improve in %d validations", self.best_metric, self.stale
            )
            return False
        return True

    def _score(self, metrics: dict[str, float]) -> float:
        if self.best_metric not in metrics:
            raise BtcrlError(
                f"train.best_metric {self.best_metric!r} is not a validation metric: "
                f"use one of {sorted(metrics)}"
            )
        value = metrics[self.best_metric]
        if not math.isfinite(value):
            return -math.inf
        return -value if self.best_metric in MINIMISED else value


class DivergenceCallback(BaseCallback):
    """Raise TrainingDivergedError as soon as an update leaves a non-finite weight."""

    def _on_rollout_start(self) -> None:
        _check_finite_weights(self.model.policy, int(self.num_timesteps))

    def _on_step(self) -> bool:
        return True


class ProgressLineCallback(BaseCallback):
    """Every ``every_s`` seconds, ``emit`` one line: env-steps done of ``total``, steps per
    second and the last validation Sharpe (for logs and pipes, where a bar shows nothing)."""

    def __init__(
        self,
        total: int,
        emit: Callable[[str], None],
        validation: ValidationCallback | None = None,
        every_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.total = total
        self.emit = emit
        self.validation = validation
        self.every_s = every_s
        self._start = self._last = 0.0
        self._start_steps = 0

    def _on_training_start(self) -> None:
        self._start = self._last = time.monotonic()
        self._start_steps = int(self.num_timesteps)

    def _on_step(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.emit(self.line(now))
        return True

    def line(self, now: float) -> str:
        """``train: 12,288/200,000 steps (6%), 1,830 steps/s, val/sharpe 0.41``."""
        done = int(self.num_timesteps) - self._start_steps
        rate = done / max(now - self._start, 1e-9)
        text = f"train: {done:,}/{self.total:,} steps ({done / max(self.total, 1):.0%}), "
        text += f"{rate:,.0f} steps/s"
        last = self.validation.last_metrics if self.validation else {}
        if "val/sharpe" in last:
            text += f", val/sharpe {last['val/sharpe']:.2f}"
        return text


def _check_finite_weights(policy: torch.nn.Module, step: int) -> None:
    for name, param in policy.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise TrainingDivergedError(f"training diverged at {step} steps: {name} holds NaN/inf")


def _short(metrics: dict[str, float]) -> str:
    keys = ("val/total_return", "val/sharpe", "val/max_drawdown", "val/trades")
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics)
