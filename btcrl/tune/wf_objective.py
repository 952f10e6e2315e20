"""The walkforward objective: a trial's score is its stitched out-of-sample metric over the
K inner folds (:mod:`btcrl.tune.folds`), each fold reported as an intermediate value.

One trial = one MLflow run (stage ``tune_trial``, nested under the tune's parent run) with
the K fold trainings nested under it. After fold k the metric of the folds stitched so far
is reported at step k, so the median and Hyperband pruners compare trials fold by fold; a
pruned trial's run ends KILLED. The last fold's report is the trial's score and never prunes:
the trial's work is done, and pruning it then would only drop a finished score (and its
returns) from the study's DSR and PBO. The trial's run holds ``oos_returns.csv`` (the stitched
per-bar returns the study's DSR and PBO are computed from) and the ``oos/*`` metrics.
"""

import logging
import math

import optuna
import pandas as pd

from btcrl.config import ExperimentConfig
from btcrl.errors import BtcrlError
from btcrl.tracking import log_metrics, log_params, start_run
from btcrl.tracking.tags import ALGO
from btcrl.tune.fold_cache import FoldCache
from btcrl.tune.folds import inner_split
from btcrl.tune.objective import (
    RUN_ID_ATTR,
    Objective,
    fail_trial,
    metric_value,
)
from btcrl.tune.oos import Stitched, log_returns, trade_fold, train_fold

log = logging.getLogger(__name__)

TRIAL_STAGE = "tune_trial"


def trial_params(config: ExperimentConfig, values: dict[str, object]) -> dict[str, object]:
    """A walkforward trial run's params: its sampled and fixed values under their config keys
    (so MLflow's compare view and parallel coordinates relate them to ``oos/*``), the inner
    folds and the env-steps each fold trains (``tune.budget_timesteps`` split over them)."""
    return {
        **values,
        "tune.inner_folds": config.tune.inner_folds,
        "budget_timesteps_per_fold": config.train.total_timesteps,
    }


class WalkforwardObjective(Objective):
    """Callable objective over inner walk-forward folds (module docstring)."""

    _candles: pd.DataFrame | None = None
    _fold_cache: FoldCache | None = None

    def fold_cache(self) -> FoldCache:
        """The worker's fold windows, shared by its trials (:mod:`btcrl.tune.fold_cache`)."""
        if self._fold_cache is None:
            self._fold_cache = FoldCache()
        return self._fold_cache

    def candles(self) -> pd.DataFrame:
        """The candles of ``base.data``, loaded once per worker."""
        if self._candles is None:
            from btcrl.data import load_candles

            self._candles = load_candles(self.base.data)
        return self._candles

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run one trial; BtcrlError (NaN, divergence, bad sampled config) fails only it."""
        config, params = self._start(trial)
        tags = self._tags(trial.number, params)
        try:
            with start_run(
                config.tune.experiment,
                TRIAL_STAGE,
                run_name=f"t{trial.number}-walkforward",
                tags={**tags, ALGO: config.agent.algo},  # the compare view's algo column
                parent_run_id=self.parent_run_id,
                killed_on=(optuna.TrialPruned,),
            ) as run:
                trial.set_user_attr(RUN_ID_ATTR, run.info.run_id)
                log_params(trial_params(config, {**self.space.fixed, **params}))
                values = self._folds(trial, config, run.info.run_id, tags)
        except BtcrlError as exc:
            fail_trial(trial, exc)
        return values[0] if len(values) == 1 else values

    def _folds(
        self, trial: optuna.Trial, config: ExperimentConfig, run_id: str, tags: dict[str, str]
    ) -> list[float]:
        tune = config.tune
        candles = self.candles()
        folds = inner_split(candles.index, config, folds=True).folds
        prune = len(tune.metrics) == 1 and tune.pruner != "none"
        stitched = Stitched()
        metrics: dict[str, float] = {}
        for k, segment in enumerate(folds):
            result = train_fold(
                config,
                segment,
                candles,
                parent_run_id=run_id,
                tags=tags,
                name_prefix=f"t{trial.number}f{k}",
                fold=k,
                log_model=False,  # traded in memory below, never served
                cache=self.fold_cache(),
            )
            trade_fold(config, segment, candles, result, stitched, self.fold_cache())
            metrics = stitched.metrics(config)
            log_metrics(metrics, step=k, run_id=run_id)
            value = metric_value(metrics, tune.metrics[0])
            if prune and not math.isnan(value):
                trial.report(value, step=k)
                if k < len(folds) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(
                        f"trial {trial.number} pruned after fold {k} ({tune.metrics[0]}="
                        f"{value:.4g})"
                    )
        times, returns = stitched.series()
        log_returns(run_id, times, returns)
        values = [metric_value(metrics, name) for name in tune.metrics]
        self._finish(trial, run_id, values, metrics)
        return values
