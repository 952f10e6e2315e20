"""The end of a study: every trial counted (DSR, PBO), the held-back test, the challenger.

Runs in the parent run after the trials (:func:`btcrl.tune.study.run_study`):

1. :func:`btcrl.tune.selection.log_selection`: N, the best trial's DSR with that N and the
   PBO by CSCV over the trials' return series, with its logit plot. The study counts its own
   N and V; with the holdout objective N counts every checkpoint evaluated on the validation
   span (``train.best_metric``'s history), since picking a checkpoint there is a selection
   on the span the score is read on. Configurations tried on the same windows outside the
   study (the trial ledger: an earlier study on the same folds, a walk-forward with the same
   test windows) add to N and V, and every complete trial becomes a ledger entry;
2. :func:`btcrl.tune.heldback.retrain_and_test`: the best configuration retrained on every
   bar before the held-back window and tested once on it (single objective only);
3. the side-by-side summary, and the retrained model registered with alias ``challenger``
   (:func:`btcrl.tune.heldback.register_challenger`).
"""

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import optuna
import pandas as pd

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.jobs.storage import make_storage
from btcrl.tracking import ensure_experiment
from btcrl.tune.folds import InnerSplit
from btcrl.tune.heldback import (
    Heldback,
    log_side_by_side,
    register_challenger,
    retrain_and_test,
    side_by_side,
)
from btcrl.tune.objective import METRICS_ATTR, OVERRIDES_ATTR
from btcrl.tune.report import trial_run_ids
from btcrl.tune.selection import SelectionStats, log_selection, trial_series

log = logging.getLogger(__name__)


@dataclass
class Conclusion:
    """What the parent run shows after the study."""

    selection: SelectionStats
    heldback: Heldback | None = None
    challenger_version: int | None = None
    model_name: str | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def oos_windows(
    config: ExperimentConfig, split: InnerSplit, series: pd.Series | None
) -> list[tuple[date, date]]:
    """The out-of-sample windows of the best trial's series (inclusive UTC days): the inner
    folds' test windows, or the validation span of the holdout objective."""
    if config.tune.objective == "walkforward":
        return [
            (s.test_start.date(), (s.test_stop - pd.Timedelta(1, "ns")).date()) for s in split.folds
        ]
    if series is None or series.empty:
        return []
    return [(series.index[0].date(), series.index[-1].date())]


def conclude(
    config: ExperimentConfig,
    base: ExperimentConfig,
    summary: dict[str, Any],
    split: InnerSplit,
    candles: pd.DataFrame,
    parent_run_id: str,
) -> Conclusion:
    """Steps 1-3 of the module docstring, logged into the active (parent) run."""
    tune = config.tune
    study = optuna.load_study(study_name=tune.study, storage=make_storage(resolve(config), tune))
    trials = study.get_trials(deepcopy=False)
    run_ids = trial_run_ids(study, ensure_experiment(tune.experiment))
    best = summary.get("best_trial")
    checkpoint_metric = config.train.best_metric if tune.objective == "holdout" else None
    series = trial_series(run_ids, trials)
    key = trial_window_set(config, split, candles, next(iter(series.values()), None))
    others = ledger_others(key, set(run_ids.values()))
    sel = log_selection(
        trials, run_ids, best, tune.pbo_partitions, checkpoint_metric, series, others
    )
    if key is not None:
        record_trials(key, {run_ids[n]: sel.sharpes[n] for n in series})
    out = Conclusion(selection=sel)
    if best is None:
        return out
    frozen = next(t for t in trials if t.number == best)
    out.best_metrics = dict(frozen.user_attrs.get(METRICS_ATTR, {}))
    overrides = dict(frozen.user_attrs.get(OVERRIDES_ATTR, {}))
    budget = tune.budget_timesteps or config.train.total_timesteps
    final = with_overrides(base, {"train.total_timesteps": budget})
    out.heldback = retrain_and_test(final, overrides, split, candles, parent_run_id)
    prefix = "oos/" if tune.objective == "walkforward" else "val/"
    out.summary = side_by_side(out.best_metrics, prefix, out.heldback, sel)
    log_side_by_side(out.summary, out.heldback)
    if out.heldback is not None:
        windows = oos_windows(config, split, sel.best_returns)
        out.challenger_version = register_challenger(
            with_overrides(config, overrides), out.heldback, sel, windows, parent_run_id
        )
        out.model_name = config.train.model_name or f"btcrl-{config.agent.algo}"
    return out


def trial_window_set(
    config: ExperimentConfig, split: InnerSplit, candles: pd.DataFrame, series: pd.Series | None
) -> str | None:
    """The trial ledger's key of the study's out-of-sample windows: the inner folds' test
    windows (walkforward objective; the same key a walk-forward on those windows has), or
    the span of a trial's validation series (holdout); None when there is no series."""
    from btcrl.data.timeframes import timeframe_timedelta
    from btcrl.walkforward.aggregate import window_set

    if config.tune.objective == "walkforward":
        windows = [(s.test_start, s.test_stop) for s in split.folds]
    elif series is not None and len(series):
        bar = timeframe_timedelta(config.data.timeframe)
        windows = [(series.index[0], series.index[-1] + bar)]
    else:
        return None
    return window_set(config, windows, candles)


def ledger_others(key: str | None, mine: set[str]) -> list[float]:
    """Per-bar Sharpe ratios of the ledger's entries on ``key`` that are not runs in
    ``mine`` (this study's trials)."""
    from btcrl.tracking.ledger import ledger_entries

    if key is None:
        return []
    return [e.sharpe_per_bar for e in ledger_entries(key) if e.run_id not in mine]


def record_trials(key: str, sharpes: dict[str, float]) -> None:
    """Make each complete trial's run (id -> its per-bar Sharpe) an entry of ``key``."""
    from btcrl.tracking.ledger import TUNE_TRIAL, record_entry

    for run_id, sharpe in sharpes.items():
        record_entry(run_id, key, sharpe, TUNE_TRIAL)


def resolve(config: ExperimentConfig) -> str:
    """The study's storage URL (:func:`btcrl.tune.storage.study_storage_url`)."""
    from btcrl.tune.storage import study_storage_url

    return study_storage_url(config.tune, config.tracking)
