"""``run_study``: check everything, open the parent run, run the workers, log the outcome."""

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import optuna

from btcrl.config import ExperimentConfig
from btcrl.errors import ConfigError
from btcrl.tracking import configure_tracking, ensure_experiment, start_run
from btcrl.tune.objective import STUDY_TAG, trial_base_config
from btcrl.tune.progress import trial_progress
from btcrl.tune.report import log_study, reconcile_trial_runs
from btcrl.tune.space import load_space, resolve_space_path
from btcrl.jobs.storage import make_storage, redact_url, resolve_storage_url
from btcrl.tune.workers import WorkerJob, run_workers

log = logging.getLogger(__name__)

ALGO_ATTR = "btcrl.algo"
METRICS_ATTR = "btcrl.metrics"


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


def open_study(config: ExperimentConfig, url: str) -> optuna.Study:
    """Create the study, or load it when it exists (resume); checks it fits ``config``."""
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
    for attr, want in ((ALGO_ATTR, config.agent.algo), (METRICS_ATTR, ",".join(tune.metrics))):
        have = study.user_attrs.get(attr)
        if have is None:
            study.set_user_attr(attr, want)
        elif have != want:
            raise ConfigError(
                f"study {tune.study!r} was created with {attr}={have!r}, not {want!r}; "
                "use another --study"
            )
    return study


def run_study(
    config: ExperimentConfig, project_dir: Path | None = None, progress: bool = False
) -> StudyResult:
    """Run ``config.tune.trials`` trials of the study (created or resumed) and log them.

    Everything that can be checked is checked before the first trial: the metrics, the
    search space file, the storage URL (and that it can be reached). MLflow gets one parent
    run (experiment ``tune.experiment``, stage ``tune``) with one nested run per trial.
    ``progress``: a bar of finished trials on stderr (the CLI turns it on in a terminal).
    """
    tune = config.tune
    check_objectives(config)
    space = load_space(resolve_space_path(tune.space, config.agent.algo), config)
    base = trial_base_config(config, space)
    url = resolve_storage_url(tune)
    study = open_study(config, url)
    tracking_uri = configure_tracking(config.tracking, project_dir)
    experiment_id = ensure_experiment(tune.experiment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    closed = reconcile_trial_runs(study, experiment_id)
    if closed:
        log.warning("closed %d MLflow run(s) of trials whose worker died", closed)
    first = len(study.trials)
    deadline = None if tune.timeout is None else time.time() + tune.timeout
    tags = {
        STUDY_TAG: tune.study,
        "btcrl.storage": redact_url(url),
        "btcrl.algo": config.agent.algo,
        "btcrl.space": str(space.path),
        "btcrl.metrics": ",".join(tune.metrics),
        "btcrl.directions": ",".join(tune.directions),
        "btcrl.workers": str(tune.workers),
    }
    with start_run(tune.experiment, "tune", run_name=f"tune-{tune.study}", tags=tags) as run:
        parent = run.info.run_id
        if run.info.experiment_id != experiment_id:  # adopted from `mlflow run`
            log.warning(
                "the parent run is in another experiment than the trials (%s); run "
                "`mlflow run ... --experiment-name %s` to see them nested",
                tune.experiment,
                tune.experiment,
            )
        mlflow.log_params(
            {
                "trials": tune.trials,
                "workers": tune.workers,
                "pruner": tune.pruner,
                "budget_timesteps": base.train.total_timesteps,
                "first_trial": first,
            }
        )
        mlflow.log_text(space.path.read_text(), "space.yaml")
        job = WorkerJob(
            base=base,
            space=space,
            storage_url=url,
            tracking_uri=tracking_uri,
            parent_run_id=parent,
            deadline=deadline,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        with trial_progress(make_storage(url, tune), tune.study, first, tune.trials, progress):
            codes = run_workers(job, tune.workers, tune.trials)
        study = optuna.load_study(study_name=tune.study, storage=make_storage(url, tune))
        reconcile_trial_runs(study, experiment_id)
        summary = log_study(study, space, tune.metrics, experiment_id)
        version = None
        if tune.register_best:
            version = _register_best(config, summary)
            if version is not None:
                mlflow.set_tag("btcrl.registered_version", version)
    return StudyResult(
        study_name=tune.study,
        storage=redact_url(url),
        parent_run_id=parent,
        n_trials=len(study.trials),
        first_trial=first,
        summary=summary,
        registered_version=version,
        worker_exit_codes=codes,
    )


def _register_best(config: ExperimentConfig, summary: dict[str, Any]) -> str | None:
    """Register the best trial's model with alias ``tuned``; None when there is no best."""
    from btcrl.agents import register_model

    run_id = summary.get("best_run_id")
    if not run_id:
        log.warning("--register-best: no completed single-objective best trial to register")
        return None
    name = config.train.model_name or f"btcrl-{config.agent.algo}"
    version = register_model(run_id, name, "tuned")
    log.info("registered %s version %s (alias tuned) from run %s", name, version, run_id)
    return str(version)
