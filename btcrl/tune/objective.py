"""The Optuna objective: one trial = one training run (``run_training``) with sampled overrides."""

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

import optuna

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError, ConfigError
from btcrl.tracking import log_metrics, set_tags, tags
from btcrl.tune.metrics import EXCESS, floor_exposure
from btcrl.tune.space import SearchSpace, sample_params

if TYPE_CHECKING:
    from btcrl.features.spec import FeatureSet

log = logging.getLogger(__name__)

RUN_ID_ATTR = "mlflow_run_id"
FAIL_REASON_ATTR = "fail_reason"
#: user attr: the config overrides of the trial (space.fixed + sampled), for --from-study
OVERRIDES_ATTR = "overrides"
#: user attr: the trial's final metrics (finite values), for the side-by-side summary
METRICS_ATTR = "metrics"


class TrialFailedError(BtcrlError):
    """This trial failed (divergence, NaN, a bad sampled config); the study goes on."""


class MetricMissingError(ConfigError):
    """The tuned metric is not among the validation metrics: every trial would fail."""


def fail_trial(trial: optuna.Trial, exc: BtcrlError) -> NoReturn:
    """Fail only this trial: its reason as a user attribute, one warning, TrialFailedError."""
    trial.set_user_attr(FAIL_REASON_ATTR, str(exc))
    log.warning("trial %d failed: %s", trial.number, exc)
    raise TrialFailedError(str(exc)) from exc


def trial_key(study_name: str, number: int) -> str:
    """The tag value that links a trial to its MLflow run (unique within a storage)."""
    return f"{study_name}#{number}"


def trial_base_config(
    config: ExperimentConfig, space: SearchSpace, tuning_end: date | None = None
) -> ExperimentConfig:
    """The config every trial starts from: the quick budget, the space's fixed values.

    Trials log into the tune experiment (so they nest under the parent run) and never
    register their models; the held-back retrain becomes the challenger afterwards. The
    walkforward objective splits ``tune.budget_timesteps`` evenly over its inner folds (a
    trial learns as many env-steps as a holdout trial). ``tuning_end``: the last day before
    the held-back window; the holdout objective's data ends there (the walkforward
    objective's folds stop before it by construction).
    """
    tune = config.tune
    budget: dict[str, Any] = {
        "train.experiment": tune.experiment,
        "train.register_model": False,
    }
    total = tune.budget_timesteps or config.train.total_timesteps
    every = tune.budget_eval_every or config.train.eval_every
    if tune.objective == "walkforward":
        total = max(1, total // tune.inner_folds)
    elif tuning_end is not None:
        budget["data.end"] = tuning_end.isoformat()
    budget["train.total_timesteps"] = total
    budget["train.eval_every"] = min(every, total)
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
    _cache: dict[str, "FeatureSet"] = field(default_factory=dict, repr=False)

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

    def _start(self, trial: optuna.Trial) -> tuple[ExperimentConfig, dict[str, Any]]:
        """How every trial starts: sample the space and apply it to ``base`` (a sampled
        config that does not validate fails only this trial), record the overrides."""
        params = sample_params(trial, self.space)
        try:
            config = with_overrides(self.base, params)
        except ConfigError as exc:
            fail_trial(trial, exc)
        trial.set_user_attr(OVERRIDES_ATTR, {**self.space.fixed, **params})
        log.info("trial %d: %s", trial.number, params)
        return config, params

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run one trial; BtcrlError (NaN, divergence, bad sampled config) fails only it."""
        from btcrl.agents import run_training  # the train code path; imported lazily

        tune = self.base.tune
        config, params = self._start(trial)
        prune = len(tune.metrics) == 1 and tune.pruner != "none"

        def on_validation(timesteps: int, metrics: Mapping[str, float]) -> None:
            if not prune:
                return
            value = metric_value(metrics, tune.metrics[0])
            if not math.isfinite(value):
                return  # a NaN validation is judged by the final metric, not the pruner
            trial.report(value, step=int(timesteps))
            if trial.should_prune():
                trial.set_user_attr("pruned_at_timesteps", int(timesteps))
                raise optuna.TrialPruned(
                    f"trial {trial.number} pruned at {timesteps} steps "
                    f"({tune.metrics[0]}={value:.4g})"
                )

        features = self._features(config)
        try:
            result = run_training(
                config,
                parent_run_id=self.parent_run_id,
                on_validation=on_validation,
                extra_tags=self._tags(trial.number, params),
                stop_exceptions=(optuna.TrialPruned,),
                name_prefix=f"t{trial.number}",
                features=features,
            )
            trial.set_user_attr(RUN_ID_ATTR, result.run_id)
            trial.set_user_attr("model_uri", result.model_uri)
            self._log_validation_returns(config, features, result.run_id, result.model_uri)
        except MetricMissingError:
            raise
        except BtcrlError as exc:
            fail_trial(trial, exc)
        metrics = dict(result.metrics)
        floor_exposure(metrics, "val/", tune.min_exposure)
        values = [metric_value(metrics, name) for name in tune.metrics]
        self._finish(trial, result.run_id, values, metrics)
        return values[0] if len(values) == 1 else values

    def _features(self, config: ExperimentConfig) -> "FeatureSet":
        """The FeatureSet ``run_training`` would load (cached per data and features config),
        passed to it so that the validation span can be replayed for the trial's return
        series without loading the features twice."""
        from btcrl.agents.split import last_train_time
        from btcrl.features import load_feature_set

        key = json.dumps(
            [config.data.model_dump(mode="json"), config.features.model_dump(mode="json")],
            sort_keys=True,
        )
        if key not in self._cache:
            train = config.train
            self._cache.clear()
            self._cache[key] = load_feature_set(
                config.data,
                config.features,
                fit_end=lambda fs: last_train_time(fs, train.split_ratio, train.train_end),
            )
        return self._cache[key]

    def _log_validation_returns(
        self, config: ExperimentConfig, features: "FeatureSet", run_id: str, model_uri: str
    ) -> None:
        """The chosen model's per-bar returns over the validation span (the backtest
        engine, forced close at its end) as ``oos_returns.csv`` of the trial's run. A model
        that cannot be replayed leaves the trial without a series (a warning): it still
        counts in N but not in the PBO matrix."""
        from btcrl.agents.split import split_feature_set
        from btcrl.policy import load_policy
        from btcrl.tune.oos import log_returns
        from btcrl.walkforward.oos import run_window, window_policy

        val = split_feature_set(features, config.train.split_ratio, config.train.train_end)
        try:
            loaded = load_policy(model_uri)
        except BtcrlError as exc:
            log.warning("run %s: no validation return series (%s)", run_id, exc)
            return
        policy = window_policy(loaded, model_uri)
        window = run_window(val.validation, config.env, policy, config.env.initial_balance, 0)
        log_returns(run_id, window.times[1:], window.returns)

    def _finish(
        self,
        trial: optuna.Trial,
        run_id: str,
        values: list[float],
        metrics: Mapping[str, float],
    ) -> None:
        """Log ``tune/objective`` on the trial's run; NaN and +inf fail the trial (-inf is
        kept: the exposure floor of ``*/excess_sharpe``)."""
        tune = self.base.tune
        _log_trial_result(run_id, tune.metrics, values, trial.number)
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
        trial.set_user_attr(METRICS_ATTR, finite)
        bad = [
            f"{n}={v}"
            for n, v in zip(tune.metrics, values, strict=True)
            if math.isnan(v) or (math.isinf(v) and not (v < 0 and n.endswith(EXCESS)))
        ]
        if bad:
            reason = f"trial {trial.number}: objective is not finite ({', '.join(bad)})"
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise TrialFailedError(reason)


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
