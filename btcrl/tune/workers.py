"""Worker loops: in this process, or as K spawned processes sharing one trial budget."""

import functools
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized

import optuna

from btcrl.config import ExperimentConfig
from btcrl.jobs.processes import (
    PARENT_POLL_S,
    WorkerStart,
    run_as_worker,
    spawn_workers,
    wait_workers,
    watch_parent,
    with_worker_threads,
)
from btcrl.jobs.storage import make_storage
from btcrl.tracking import end_orphaned_runs, set_tracking_uri
from btcrl.tune.objective import Objective, TrialFailedError
from btcrl.tune.space import SearchSpace
from btcrl.tune.wf_objective import WalkforwardObjective

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerJob:
    """Everything one worker needs; picklable, so it crosses into a spawned process."""

    base: ExperimentConfig
    space: SearchSpace
    storage_url: str
    tracking_uri: str
    parent_run_id: str | None
    deadline: float | None  # time.time() seconds after which no trial starts
    index: int = 0
    log_level: int = logging.WARNING


def make_sampler(config: ExperimentConfig, seed: int) -> optuna.samplers.BaseSampler:
    """TPE for one objective, NSGA-II for several."""
    if len(config.tune.metrics) > 1:
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(config: ExperimentConfig) -> optuna.pruners.BasePruner:
    """Median (default) or Hyperband on validation steps; none for multi-objective studies."""
    tune = config.tune
    if tune.pruner == "none" or len(tune.metrics) > 1:
        return optuna.pruners.NopPruner()
    if tune.pruner == "hyperband":
        total = tune.budget_timesteps or config.train.total_timesteps
        every = min(tune.budget_eval_every or config.train.eval_every, total)
        every = every or max(1, total // 10)  # 0: validations at about a tenth of the budget
        return optuna.pruners.HyperbandPruner(
            min_resource=every, max_resource=total, reduction_factor=3
        )
    return optuna.pruners.MedianPruner(n_startup_trials=tune.pruner_startup_trials)


def take_one(budget: Synchronized) -> bool:  # type: ignore[type-arg]
    """Claim one trial from the shared budget; False when none is left."""
    with budget.get_lock():
        if budget.value <= 0:
            return False
        budget.value -= 1
        return True


def run_worker(job: WorkerJob, budget: Synchronized) -> None:  # type: ignore[type-arg]
    """Run trials until the shared budget or the deadline is spent.

    Each trial is one ``study.optimize(n_trials=1)`` so that Optuna's heartbeat thread runs
    and stale trials of dead workers are failed (and retried) before every new trial.
    TrialFailedError fails only the trial at hand; anything else stops this worker.
    """
    from btcrl.tune.report import close_stale_trial_run

    set_tracking_uri(job.tracking_uri)
    storage = make_storage(job.storage_url, job.base.tune, on_stale=close_stale_trial_run)
    name = job.base.tune.study
    probe = optuna.load_study(study_name=name, storage=storage)
    seed = job.base.seed + 1000 * job.index + len(probe.trials)  # fresh draws on resume
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(job.base, seed),
        pruner=make_pruner(job.base),
    )
    kind = WalkforwardObjective if job.base.tune.objective == "walkforward" else Objective
    objective = kind(job.base, job.space, job.parent_run_id, name)
    while take_one(budget):
        if job.deadline is not None and time.time() >= job.deadline:
            log.info("worker %d: timeout reached", job.index)
            break
        # no gc_after_trial: a full collection costs ~0.3 s a trial with torch loaded (a tenth
        # of a default trial) and frees nothing that reference counting and CPython's
        # collector, which still runs as needed, would not (docs/walkforward.md did the same)
        study.optimize(objective, n_trials=1, catch=(TrialFailedError,))


def watch_tune_process(
    job: WorkerJob, parent_pid: int, poll_s: float = PARENT_POLL_S
) -> threading.Thread:
    """Stop this worker with the tune process; its in-flight trial run and the tune's parent
    run end KILLED (issue 23.8): ``watch_parent`` with ``end_orphaned_runs`` as its last act."""
    return watch_parent(parent_pid, poll_s, _on_orphan(job, parent_pid))


def _on_orphan(job: WorkerJob, parent_pid: int) -> Callable[[], object] | None:
    """What an orphaned worker does before its hard exit: end its runs KILLED."""
    if job.parent_run_id is None:
        return None
    return functools.partial(
        end_orphaned_runs, job.parent_run_id, parent_pid, job.tracking_uri, "tune", os.getpid()
    )


def _process_main(job: WorkerJob, budget: Synchronized, parent_pid: int) -> None:  # type: ignore[type-arg]
    """Entry point of a spawned worker (``btcrl.jobs.processes.run_as_worker``); an orphaned
    one ends its trial's run and the tune's parent run KILLED."""
    start = WorkerStart(f"w{job.index}", job.log_level, job.base.train.torch_threads)
    run_as_worker(start, lambda: run_worker(job, budget), parent_pid, _on_orphan(job, parent_pid))


def run_workers(job: WorkerJob, workers: int, trials: int) -> list[int]:
    """Run ``trials`` trials over ``workers`` workers; the exit codes of spawned processes.

    One worker runs in this process. Several run as spawned processes, each with
    ``cpu_count // workers`` torch threads (unless ``train.torch_threads`` is set).
    """
    budget = mp.get_context("spawn").Value("i", trials)
    if workers == 1:
        run_worker(job, budget)
        return []
    base = with_worker_threads(job.base, workers)
    jobs = [WorkerJob(**{**job.__dict__, "base": base, "index": i}) for i in range(workers)]
    procs = spawn_workers(_process_main, [(j, budget, os.getpid()) for j in jobs], "tune")
    return wait_workers(procs, "tune")
