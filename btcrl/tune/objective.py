"""The Optuna objective: one trial = one training run (``run_training``) with sampled overrides."""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError, ConfigError
from btcrl.tune.space import SearchSpace, sample_params

log = logging.getLogger(__name__)

STUDY_TAG = "btcrl.study"
TRIAL_NUMBER_TAG = "btcrl.trial_number"
TRIAL_KEY_TAG = "btcrl.trial_key"
TUNE_PARENT_TAG = "btcrl.tune_parent"
FAIL_REASON_TAG = "btcrl.fail_reason"
RUN_ID_ATTR = "mlflow_run_id"
FAIL_REASON_ATTR = "fail_reason"


class TrialFailedError(BtcrlError):
    """This trial failed (divergence, NaN, a bad sampled config); the study goes on."""


class MetricMissingError(ConfigError):
    """The tuned metric is not among the validation metrics: every trial would fail."""


def trial_key(study_name: str, number: int) -> str:
    """The tag value that links a trial to its MLflow run (unique within a storage)."""
    return f"{study_name}#{number}"


def trial_base_config(config: ExperimentConfig, space: SearchSpace) -> ExperimentConfig:
    """The config every trial starts from: the quick budget, the space's fixed values.

    Trials log into the tune experiment (so they nest under the parent run) and never
    register their models; ``--register-best`` registers the best one afterwards.
    """
    tune = config.tune
    budget: dict[str, Any] = {
        "train.experiment": tune.experiment,
        "train.register_model": False,
    }
    if tune.budget_timesteps is not None:
        budget["train.total_timesteps"] = tune.budget_timesteps
    if tune.budget_eval_every is not None:
        budget["train.eval_every"] = tune.budget_eval_every
    if tune.budget_n_envs is not None:
        budget["train.n_envs"] = tune.budget_n_envs
    return with_overrides(with_overrides(config, budget), space.fixed)


@dataclass
class Objective:
    """Callable objective: sample, train via ``run_training``, report, return the metric(s).

    ``base`` comes from ``trial_base_config``; ``parent_run_id`` is the invocation's MLflow
    parent run. Single-objective trials report ``metrics[0]`` at every validation (step =
    env-steps) and raise ``optuna.TrialPruned`` when the pruner says so.
    """

    base: ExperimentConfig
    space: SearchSpace
    parent_run_id: str | None
    study_name: str

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run one trial; BtcrlError (NaN, divergence, bad sampled config) fails only it."""
        from btcrl.agents import run_training  # the train code path; imported lazily

        tune = self.base.tune
        params = sample_params(trial, self.space)
        try:
            config = with_overrides(self.base, params)
        except ConfigError as exc:
            trial.set_user_attr(FAIL_REASON_ATTR, str(exc))
            raise TrialFailedError(str(exc)) from exc
        prune = len(tune.metrics) == 1 and tune.pruner != "none"
        reported = 0

        def on_validation(timesteps: int, metrics: Mapping[str, float]) -> None:
            nonlocal reported
            if not prune:
                return
            value = metric_value(metrics, tune.metrics[0])
            if not math.isfinite(value):
                return  # a NaN validation is judged by the final metric, not the pruner
            trial.report(value, step=int(timesteps))
            reported += 1
            if trial.should_prune():
                trial.set_user_attr("pruned_at_timesteps", int(timesteps))
                raise optuna.TrialPruned(
                    f"trial {trial.number} pruned at {timesteps} steps "
                    f"({tune.metrics[0]}={value:.4g})"
                )

        tags = {
            STUDY_TAG: self.study_name,
            TRIAL_NUMBER_TAG: str(trial.number),
            TRIAL_KEY_TAG: trial_key(self.study_name, trial.number),
            "btcrl.trial_params": json.dumps(params, default=str)[:4000],
        }
        if self.parent_run_id:
            tags[TUNE_PARENT_TAG] = self.parent_run_id
        log.info("trial %d: %s", trial.number, params)
        try:
            result = run_training(
                config,
                parent_run_id=self.parent_run_id,
                on_validation=on_validation,
                extra_tags=tags,
            )
        except MetricMissingError:
            raise
        except BtcrlError as exc:
            trial.set_user_attr(FAIL_REASON_ATTR, str(exc))
            log.warning("trial %d failed: %s", trial.number, exc)
            raise TrialFailedError(str(exc)) from exc
        trial.set_user_attr(RUN_ID_ATTR, result.run_id)
        trial.set_user_attr("model_uri", result.model_uri)
        values = [metric_value(result.metrics, name) for name in tune.metrics]
        _log_trial_result(result.run_id, tune.metrics, values, trial.number)
        bad = [
            f"{n}={v}" for n, v in zip(tune.metrics, values, strict=True) if not math.isfinite(v)
        ]
        if bad:
            reason = f"trial {trial.number}: objective is not finite ({', '.join(bad)})"
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise TrialFailedError(reason)
        return values[0] if len(values) == 1 else values


def metric_value(metrics: Mapping[str, float], name: str) -> float:
    """``metrics[name]`` as a float; MetricMissingError lists what is there."""
    if name not in metrics:
        have = ", ".join(sorted(metrics)) or "none"
        raise MetricMissingError(f"metric {name!r} is not a validation metric (have: {have})")
    return float(metrics[name])


def _log_trial_result(
    run_id: str, names: tuple[str, ...], values: list[float], number: int
) -> None:
    """The objective value(s) on the trial's run, as ``tune/objective[_i]``."""
    client = MlflowClient()
    for i, value in enumerate(values):
        if math.isfinite(value):
            key = "tune/objective" if len(values) == 1 else f"tune/objective_{i}"
            client.log_metric(run_id, key, value)
    client.set_tag(run_id, "btcrl.objective_metrics", ",".join(names))
    client.set_tag(run_id, TRIAL_NUMBER_TAG, str(number))
