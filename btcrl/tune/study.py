"""``run_study``: check everything, open the parent run, run the workers, log the outcome."""

import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from btcrl.config import ExperimentConfig
from btcrl.data import load_candles
from btcrl.errors import BtcrlError, ConfigError
from btcrl.jobs.settings import flat_settings, settings_differences
from btcrl.jobs.storage import make_storage, redact_url, storage_exists
from btcrl.tracking import (
    configure_tracking,
    ensure_experiment,
    log_params,
    log_text,
    set_tags,
    start_run,
    tags,
)
from btcrl.tracking.models import register_model
from btcrl.tune.conclude import Conclusion, conclude
from btcrl.tune.folds import InnerSplit, inner_split
from btcrl.tune.metrics import check_metrics
from btcrl.tune.objective import FAIL_REASON_ATTR, trial_base_config
from btcrl.tune.progress import trial_progress
from btcrl.tune.report import log_study, reconcile_trial_runs
from btcrl.tune.space import SearchSpace, load_space, resolve_space_path
from btcrl.tune.storage import study_storage_url
from btcrl.tune.workers import WorkerJob, run_workers

log = logging.getLogger(__name__)

ALGO_ATTR = tags.ALGO  # study user attrs that must match on resume
METRICS_ATTR = tags.METRICS


@dataclass
class StudyResult:
    """The outcome of one ``btcrl tune`` invocation over its (possibly resumed) study."""

    study_name: str
    storage: str  # password hidden
    parent_run_id: str
    n_trials: int  # in the whole study, all invocations
    first_trial: int  # number of the first trial this invocation's study held
    summary: dict[str, Any] = field(default_factory=dict)
    registered_version: str | None = None
    worker_exit_codes: list[int] = field(default_factory=list)
    ran: list[int] = field(default_factory=list)  # numbers of the trials this invocation ran
    conclusion: Conclusion | None = None  # DSR, PBO, the held-back result, the challenger

    @property
    def best_value(self) -> float | None:
        """Best objective value (single objective), else None."""
        value = self.summary.get("best_value")
        return None if value is None else float(value)

    @property
    def best_params(self) -> dict[str, Any]:
        """Best trial's sampled config values (single objective), else {}."""
        return dict(self.summary.get("best_params") or {})


def check_objectives(config: ExperimentConfig) -> None:
    """Metrics and directions pair up one to one; one-line ConfigError otherwise."""
    tune = config.tune
    if len(tune.metrics) != len(tune.directions):
        raise ConfigError(
            f"tune.metrics {list(tune.metrics)} and tune.directions {list(tune.directions)} "
            "must have the same length (one --direction per --metric)"
        )
    if len(set(tune.metrics)) != len(tune.metrics):
        raise ConfigError(f"tune.metrics {list(tune.metrics)} repeats a metric")


def open_study(
    config: ExperimentConfig, url: str, base: ExperimentConfig, space: SearchSpace
) -> optuna.Study:
    """Create the study, or load it when it exists (resume); checks it fits ``config``, and
    that the trials' ``base`` config and ``space`` are those its earlier trials ran with
    (``study_settings``): trials of two recipes in one study would be ranked as one."""
    tune = config.tune
    storage = make_storage(url, tune)
    try:
        study = optuna.create_study(
            study_name=tune.study,
            storage=storage,
            directions=list(tune.directions),
            load_if_exists=True,
        )
    except ValueError as exc:
        raise ConfigError(f"study {tune.study!r} cannot be resumed: {exc}") from None
    if [d.name.lower() for d in study.directions] != list(tune.directions):
        raise ConfigError(
            f"study {tune.study!r} optimises {[d.name.lower() for d in study.directions]}, "
            f"not {list(tune.directions)}; use another --study"
        )
    _name_metrics(study, list(tune.metrics))
    wanted = (
        (ALGO_ATTR, "agent.algo (--algo)", config.agent.algo),
        (METRICS_ATTR, "tune.metrics (--metric)", ",".join(tune.metrics)),
        (tags.STUDY_OBJECTIVE, "tune.objective (--objective)", tune.objective),
    )
    for attr, setting, want in wanted:
        have = study.user_attrs.get(attr)
        if have is None:
            study.set_user_attr(attr, want)
        elif have != want:
            raise ConfigError(
                f"study {tune.study!r} in {redact_url(url)} was made with {setting} {have!r}, "
                f"not {want!r}; use another --study"
            )
    _check_settings(study, study_settings(base, space), url)
    return study


def study_settings(base: ExperimentConfig, space: SearchSpace) -> dict[str, str]:
    """What a resumed study's trials share with those before them: the trials' base recipe
    (features, env, agent, train with its per-trial budget), the market and span, the
    objective's folds and the search space (a hash of its file), flattened."""
    dump = base.model_dump(mode="json", include={"features", "env", "agent", "train", "data"})
    for section, key in (("train", "torch_threads"), ("train", "seeds"), ("data", "data_dir")):
        dump[section].pop(key, None)
    tune = base.tune
    dump["tune"] = {
        "inner_folds": tune.inner_folds,
        "holdout_months": tune.holdout_months,
        "min_exposure": tune.min_exposure,
        "space": hashlib.sha256(space.path.read_bytes()).hexdigest()[:16],
    }
    return flat_settings(dump)


def _check_settings(study: optuna.Study, mine: dict[str, str], url: str) -> None:
    """Keep ``mine`` in a new study; a resumed one must carry the same (studies made before
    the check existed take it now)."""
    theirs = study.user_attrs.get(tags.STUDY_SETTINGS)
    if theirs is None:
        study.set_user_attr(tags.STUDY_SETTINGS, mine)
    elif theirs != mine:
        raise ConfigError(
            f"study {study.study_name!r} in {redact_url(url)} was made with "
            f"{settings_differences(theirs, mine)}; use another --study"
        )


def _name_metrics(study: optuna.Study, metrics: list[str]) -> None:
    """Name the objectives (optuna-dashboard shows ``val/sharpe``, not "Objective 0"); a
    resumed study must already carry the same names."""
    if study.metric_names is None:
        with warnings.catch_warnings():  # experimental in older optuna releases
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metrics)
    elif list(study.metric_names) != metrics:
        raise ConfigError(
            f"study {study.study_name!r} measures {list(study.metric_names)}, not {metrics}; "
            "use another --study"
        )


def check_existing(config: ExperimentConfig, url: str) -> None:
    """A study of this name that already exists must measure the same metrics with the same
    objective: a one-line ConfigError otherwise, before anything is created or trained."""
    tune = config.tune
    if not storage_exists(url):
        return  # a new study in a new sqlite file: made once every check has passed
    try:
        study = optuna.load_study(study_name=tune.study, storage=make_storage(url, tune))
    except KeyError:
        return  # a new study
    have = study.metric_names or study.user_attrs.get(METRICS_ATTR, "").split(",")
    if [m for m in have if m] and list(have) != list(tune.metrics):
        raise ConfigError(
            f"study {tune.study!r} is bound to metrics {list(have)}, not "
            f"{list(tune.metrics)}; use another --study"
        )
    objective = study.user_attrs.get(tags.STUDY_OBJECTIVE)
    if objective is not None and objective != tune.objective:
        raise ConfigError(
            f"study {tune.study!r} was made with --objective {objective}, not "
            f"{tune.objective}; use another --study"
        )


def run_study(
    config: ExperimentConfig,
    project_dir: Path | None = None,
    progress: Callable[..., None] | None = None,
    progress_lines: Callable[[str], None] | None = None,
) -> StudyResult:
    """Run ``config.tune.trials`` trials of the study (created or resumed) and log them.

    Everything that can be checked is checked before the study is opened and the first trial
    runs: the metrics, the search space file, the storage URL (and that it can be reached),
    an existing study's metrics and objective, the data and the inner folds.
    MLflow gets one parent run (experiment ``tune.experiment``, stage ``tune``) with one nested
    run per trial. ``progress(done, total, complete=, pruned=, failed=)``: finished trials, for
    the CLI's bar on a terminal; ``progress_lines``: called with one progress line every 30 s
    otherwise.
    """
    tune = config.tune
    tracking = configure_tracking(config.tracking, project_dir)  # the study goes beside it
    space, url, candles, split, base = _prepare(config, project_dir)
    study = open_study(config, url, base, space)
    experiment_id = ensure_experiment(tune.experiment)
    _recover(study, experiment_id)
    first = len(study.trials)
    with start_run(
        tune.experiment, "tune", run_name=f"tune-{tune.study}", tags=_tags(config, space, url)
    ) as run:
        _warn_if_elsewhere(run.info.experiment_id, experiment_id, tune.experiment)
        log_params(
            {
                "trials": tune.trials,
                "workers": tune.workers,
                "pruner": tune.pruner,
                **_budget_params(config, base),
                "first_trial": first,
            }
        )
        log_text(space.path.read_text(), "space.yaml")
        job = WorkerJob(
            base=base,
            space=space,
            storage_url=url,
            tracking_uri=tracking,
            parent_run_id=run.info.run_id,
            deadline=None if tune.timeout is None else time.time() + tune.timeout,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        started = datetime.now()
        with trial_progress(
            make_storage(url, tune), tune.study, first, tune.trials, progress, progress_lines
        ):
            codes = run_workers(job, tune.workers, tune.trials)
        result = _finish(config, url, experiment_id, space, started)
        check_not_all_failed(config, url, result.ran)
        result.conclusion = conclude(config, base, result.summary, split, candles, run.info.run_id)
    result.parent_run_id, result.first_trial, result.worker_exit_codes = (
        run.info.run_id,
        first,
        codes,
    )
    return result


def _budget_params(config: ExperimentConfig, base: ExperimentConfig) -> dict[str, int]:
    """The env-steps a trial trains in all, and per inner fold under the walkforward
    objective (``trial_base_config`` splits the trial's budget over the folds)."""
    total = config.tune.budget_timesteps or config.train.total_timesteps
    out = {"budget_timesteps_per_trial": total}
    if config.tune.objective == "walkforward":
        out["budget_timesteps_per_fold"] = base.train.total_timesteps
    return out


def _prepare(
    config: ExperimentConfig, project_dir: Path | None = None
) -> tuple[SearchSpace, str, pd.DataFrame, InnerSplit, ExperimentConfig]:
    """The checks before any study exists: (space, storage URL, candles, split, the trials'
    base config); one-line ConfigErrors otherwise."""
    tune = config.tune
    check_objectives(config)
    check_metrics(config)
    space = load_space(resolve_space_path(tune.space, config.agent.algo), config)
    url = study_storage_url(tune, config.tracking, project_dir)
    check_existing(config, url)  # writes nothing: a failing check leaves no database
    candles = load_candles(config.data)
    split = inner_split(candles.index, config, folds=tune.objective == "walkforward")
    last_day = (split.tuning_stop - pd.Timedelta(1, "ns")).date()
    base = trial_base_config(config, space, last_day if split.heldback else None)
    return space, url, candles, split, base


def _recover(study: optuna.Study, experiment_id: str) -> None:
    """Fail (and requeue) trials of dead workers; close their MLflow runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    closed = reconcile_trial_runs(study, experiment_id)
    if closed:
        log.warning("closed %d MLflow run(s) of trials whose worker died", closed)


def _tags(config: ExperimentConfig, space: SearchSpace, url: str) -> dict[str, str]:
    tune = config.tune
    return {
        tags.STUDY: tune.study,
        tags.STORAGE: redact_url(url),
        tags.ALGO: config.agent.algo,
        tags.SPACE: str(space.path),
        tags.METRICS: ",".join(tune.metrics),
        tags.DIRECTIONS: ",".join(tune.directions),
        tags.WORKERS: str(tune.workers),
    }


def _warn_if_elsewhere(run_experiment: str, experiment_id: str, name: str) -> None:
    if run_experiment != experiment_id:  # adopted from `mlflow run`
        log.warning(
            "the parent run is in another experiment than the trials (%s); run "
            "`mlflow run ... --experiment-name %s` to see them nested",
            name,
            name,
        )


def _finish(
    config: ExperimentConfig, url: str, experiment_id: str, space: SearchSpace, started: datetime
) -> StudyResult:
    """Reload the study, close lost runs, log the outcome (and register the best); the
    caller fills in its parent run, first trial and worker exit codes."""
    tune = config.tune
    study = optuna.load_study(study_name=tune.study, storage=make_storage(url, tune))
    reconcile_trial_runs(study, experiment_id)
    summary = log_study(study, space, tune.metrics, experiment_id)
    ran = sorted(
        t.number
        for t in study.get_trials(deepcopy=False)
        if t.datetime_start is not None and t.datetime_start >= started
    )
    version = None
    if tune.register_best and tune.objective == "walkforward":
        log.warning(
            "--register-best: a walkforward trial has no single model; the held-back "
            "retrain is registered as challenger instead"
        )
    elif tune.register_best:
        version = _register_best(config, summary)
        if version is not None:
            set_tags({tags.REGISTERED_VERSION: version})
    return StudyResult(
        study_name=tune.study,
        storage=redact_url(url),
        parent_run_id="",
        n_trials=len(study.trials),
        first_trial=0,
        summary=summary,
        registered_version=version,
        ran=ran,
    )


def check_not_all_failed(config: ExperimentConfig, url: str, ran: list[int]) -> None:
    """Raise a one-line BtcrlError with the first trial's error when every trial this
    invocation ran failed (nothing to select from: the study is broken, not unlucky)."""
    if not ran:
        return
    tune = config.tune
    study = optuna.load_study(study_name=tune.study, storage=make_storage(url, tune))
    trials = [t for t in study.get_trials(deepcopy=False) if t.number in set(ran)]
    if any(t.state != optuna.trial.TrialState.FAIL for t in trials):
        return
    first = min(trials, key=lambda t: t.number)
    reason = str(first.user_attrs.get(FAIL_REASON_ATTR) or "no error recorded; see the log")
    raise BtcrlError(
        f"all {len(trials)} trial(s) of study {tune.study!r} failed; trial {first.number}: "
        f"{' '.join(reason.split())}"
    )


def _register_best(config: ExperimentConfig, summary: dict[str, Any]) -> str | None:
    """Register the best trial's model with alias ``tuned``; None when there is no best."""
    run_id = summary.get("best_run_id")
    if not run_id:
        log.warning("--register-best: no completed single-objective best trial to register")
        return None
    name = config.train.model_name or f"btcrl-{config.agent.algo}"
    version = register_model(run_id, name, "tuned")
    log.info("registered %s version %s (alias tuned) from run %s", name, version, run_id)
    return str(version)
