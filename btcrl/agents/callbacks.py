"""SB3 callbacks of a btcrl training run: validation + checkpoints, divergence, progress bar."""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import torch
from mlflow.entities import Metric
from stable_baselines3.common.callbacks import BaseCallback

from btcrl.agents.validation import deterministic_act, evaluate_policy
from btcrl.config import EnvConfig
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSet

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
        _log_metrics(self.run_id, metrics, step)
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
            mlflow.tracking.MlflowClient().log_artifact(self.run_id, str(path), "checkpoints")
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


class ProgressBarCallback(BaseCallback):
    """tqdm bar of env-steps with fps and the last validation Sharpe (stderr)."""

    def __init__(self, total: int, validation: ValidationCallback | None = None) -> None:
        super().__init__()
        self.total = total
        self.validation = validation
        self.bar = None
        self._start = 0.0
        self._start_steps = 0
        self._shown = 0.0

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self._start, self._start_steps = time.perf_counter(), int(self.num_timesteps)
        self.bar = tqdm(
            total=self.total, initial=0, unit="step", unit_scale=True, dynamic_ncols=True
        )

    def _on_step(self) -> bool:
        if self.bar is None:
            return True
        done = int(self.num_timesteps) - self._start_steps
        self.bar.update(done - self.bar.n)
        now = time.perf_counter()
        if now - self._shown > 0.5:
            self._shown = now
            elapsed = max(now - self._start, 1e-9)
            postfix = {"fps": f"{done / elapsed:,.0f}"}
            last = self.validation.last_metrics if self.validation else {}
            if "val/sharpe" in last:
                postfix["val_sharpe"] = f"{last['val/sharpe']:.2f}"
            self.bar.set_postfix(postfix, refresh=False)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _check_finite_weights(policy: torch.nn.Module, step: int) -> None:
    for name, param in policy.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise TrainingDivergedError(f"training diverged at {step} steps: {name} holds NaN/inf")


def _log_metrics(run_id: str, metrics: dict[str, float], step: int) -> None:
    stamp = int(time.time() * 1000)
    batch = [Metric(k, float(v), stamp, step) for k, v in metrics.items() if math.isfinite(v)]
    mlflow.tracking.MlflowClient().log_batch(run_id, metrics=batch)


def _short(metrics: dict[str, float]) -> str:
    keys = ("val/total_return", "val/sharpe", "val/max_drawdown", "val/trades")
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics)
