"""Worker loops: in this process, or as K spawned processes sharing one trial budget."""

import _thread
import logging
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized

import optuna

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError
from btcrl.jobs.processes import wait_workers
from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports
from btcrl.jobs.storage import make_storage
from btcrl.tracking import set_tracking_uri
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


def torch_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """CPU threads each worker's torch may use so K workers do not oversubscribe cores."""
    return max(1, (cpus or os.cpu_count() or 1) // workers)


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
        study.optimize(objective, n_trials=1, catch=(TrialFailedError,), gc_after_trial=True)


#: seconds between a worker's checks that the tune process that started it is alive
PARENT_POLL_S = 0.5
#: seconds an orphaned worker has to end its trial's run (KILLED) before it exits anyway
ORPHAN_GRACE_S = 3.0


def watch_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """A daemon thread that stops this worker when process ``parent_pid`` is gone (the tune
    main process was killed, even with SIGKILL): Ctrl-C in the main thread first, so the
    trial's run ends KILLED, then a hard exit after ORPHAN_GRACE_S seconds."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        log.warning("tune process %d is gone; this worker stops", parent_pid)
        _thread.interrupt_main()
        time.sleep(ORPHAN_GRACE_S)
        os._exit(1)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def _process_main(job: WorkerJob, budget: Synchronized, parent_pid: int) -> None:  # type: ignore[type-arg]
    """Entry point of a spawned worker: stop with the parent, logging, thread limits, then
    ``run_worker``."""
    watch_parent(parent_pid)
    freeze_after_imports(TRAINING_MODULES)  # btcrl.jobs.startup: imports, then gc.freeze
    logging.basicConfig(
        level=job.log_level, format=f"%(asctime)s %(levelname)s w{job.index} %(name)s: %(message)s"
    )
    optuna.logging.set_verbosity(optuna.logging.INFO if job.log_level <= logging.INFO else 30)
    import torch

    torch.set_num_threads(max(1, job.base.train.torch_threads))
    try:
        run_worker(job, budget)
    except BtcrlError as exc:
        logging.getLogger(__name__).error("worker %d stopped: %s", job.index, exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_workers(job: WorkerJob, workers: int, trials: int) -> list[int]:
    """Run ``trials`` trials over ``workers`` workers; the exit codes of spawned processes.

    One worker runs in this process. Several run as spawned processes, each with
    ``cpu_count // workers`` torch threads (unless ``train.torch_threads`` is set).
    """
    ctx = mp.get_context("spawn")
    budget = ctx.Value("i", trials)
    if workers == 1:
        run_worker(job, budget)
        return []
    base = job.base
    if base.train.torch_threads == 0:
        base = with_overrides(base, {"train.torch_threads": torch_threads_per_worker(workers)})
    procs = []
    for index in range(workers):
        worker_job = WorkerJob(**{**job.__dict__, "base": base, "index": index})
        proc = ctx.Process(
            target=_process_main, args=(worker_job, budget, os.getpid()), name=f"tune-w{index}"
        )
        proc.start()
        procs.append(proc)
    return wait_workers(procs, "tune")
