"""The Optuna objective: one trial = one training run (``run_training``) with sampled overrides."""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError, ConfigError
from btcrl.tracking import log_metrics, set_tags, tags
from btcrl.tune.space import SearchSpace, sample_params

log = logging.getLogger(__name__)

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

    def _tags(self, number: int, params: Mapping[str, Any]) -> dict[str, str]:
        """Tags that link the trial's run to its study, number and parent run."""
        found = {
            tags.STUDY: self.study_name,
            tags.TRIAL_NUMBER: str(number),
            tags.TRIAL_KEY: trial_key(self.study_name, number),
            tags.TRIAL_PARAMS: json.dumps(params, default=str)[:4000],
        }
        if self.parent_run_id:
            found[tags.TUNE_PARENT] = self.parent_run_id
        return found

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

        log.info("trial %d: %s", trial.number, params)
        try:
            result = run_training(
                config,
                parent_run_id=self.parent_run_id,
                on_validation=on_validation,
                extra_tags=self._tags(trial.number, params),
                stop_exceptions=(optuna.TrialPruned,),
                name_prefix=f"t{trial.number}",
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
    keys = (
        ["tune/objective"]
        if len(values) == 1
        else [f"tune/objective_{i}" for i in range(len(values))]
    )
    log_metrics(dict(zip(keys, values, strict=True)), run_id=run_id)
    set_tags({tags.OBJECTIVE_METRICS: ",".join(names), tags.TRIAL_NUMBER: str(number)}, run_id)
