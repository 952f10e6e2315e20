"""Segment x seed jobs coordinated through an Optuna study (the storage ``btcrl tune`` uses).

The study is named after the walk-forward. Its sampler is a GridSampler over (segment, seed);
every job this invocation wants and that is not finished, running or waiting is enqueued,
and long-lived workers (this process, or K spawned ones, on any machine sharing the storage)
take waiting trials one at a time. A trial trains one segment for one seed and records the
train run and model in its user attributes; a trial whose worker dies stops sending
heartbeats, is failed and re-enqueued (``tune.heartbeat_interval``, ``tune.max_retry``).
A finished (COMPLETE) job is never trained again.
"""

import logging
import multiprocessing as mp
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError
from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports
from btcrl.jobs.storage import make_storage
from btcrl.walkforward.split import Segment

log = logging.getLogger(__name__)

Job = tuple[int, int]  # (segment index, seed)
SEED_HIGH = 2**31 - 1
POLL_S = 5.0  # seconds between looks at jobs running elsewhere
EXIT_ORPHANED = 3  # a worker's exit code when its parent process died
RESULT_ATTR = "result"  # a finished trial's user attribute: run_id, model_uri, val/* metrics
_ACTIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)


class JobFailedError(BtcrlError):
    """One job failed (e.g. training diverged); the trial fails, the worker goes on."""


@dataclass(frozen=True)
class JobContext:
    """Everything a worker needs; picklable, so it crosses into a spawned process."""

    config: ExperimentConfig
    segments: tuple[Segment, ...]  # every segment of the split
    storage_url: str
    tracking_uri: str
    parent_run_id: str
    wanted: frozenset[Job] = frozenset()
    step_progress: bool = False  # a bar over env-steps (one in-process worker, a terminal)
    index: int = 0
    log_level: int = logging.WARNING
    keep_models: bool = True  # keep trained models for a stitch in this process (not spawned)


def grid_sampler(segments: int, seeds: tuple[int, ...]) -> optuna.samplers.GridSampler:
    """The grid over (segment, seed)."""
    return optuna.samplers.GridSampler({"segment": list(range(segments)), "seed": list(seeds)})


def trial_job(trial: optuna.trial.FrozenTrial) -> Job | None:
    """(segment, seed) of a trial (fixed params of a waiting one), or None."""
    params = trial.params or trial.system_attrs.get("fixed_params") or {}
    if "segment" not in params or "seed" not in params:
        return None
    return int(params["segment"]), int(params["seed"])


def jobs_in(study: optuna.Study, states: tuple[TrialState, ...]) -> dict[Job, list[int]]:
    """Trial numbers per job among the trials in ``states``."""
    found: dict[Job, list[int]] = {}
    for trial in study.get_trials(deepcopy=False, states=states):
        job = trial_job(trial)
        if job is not None:
            found.setdefault(job, []).append(trial.number)
    return found


def finished_jobs(study: optuna.Study) -> dict[Job, dict[str, object]]:
    """Per finished job: what its first COMPLETE trial recorded (run_id, model_uri,
    validation metrics): the ``RESULT_ATTR`` user attribute, or (older studies) one user
    attribute per item."""
    out: dict[Job, dict[str, object]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        job = trial_job(trial)
        if job is not None and job not in out:
            attrs = dict(trial.user_attrs)
            attrs.update(attrs.pop(RESULT_ATTR, None) or {})
            out[job] = attrs
    return out


def enqueue_missing(study: optuna.Study, wanted: list[Job]) -> list[Job]:
    """Enqueue every wanted job that is not complete, running or waiting; returns the jobs
    that still need a worker (enqueued now or waiting from before)."""
    active = jobs_in(study, _ACTIVE)
    complete = jobs_in(study, (TrialState.COMPLETE,))
    todo = []
    for job in wanted:
        if job in complete:
            continue
        todo.append(job)
        if job not in active:
            study.enqueue_trial({"segment": job[0], "seed": job[1]})
    return todo


def has_waiting(study: optuna.Study) -> bool:
    """Fail (and re-enqueue) trials of dead workers, then: is a job waiting?"""
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def running_elsewhere(study: optuna.Study, wanted: frozenset[Job]) -> bool:
    """Is a wanted job running (in another worker or machine, or lost and not yet stale)?"""
    return any(job in wanted for job in jobs_in(study, (TrialState.RUNNING,)))


def open_study(ctx: JobContext) -> optuna.Study:
    """The walk-forward's study with heartbeats, loaded with the grid sampler."""
    storage = make_storage(ctx.storage_url, ctx.config.tune)
    return optuna.load_study(
        study_name=ctx.config.walkforward.name,
        storage=storage,
        sampler=grid_sampler(len(ctx.segments), ctx.config.walkforward.seeds),
    )


def run_worker(ctx: JobContext, on_trial: Callable[[], None] | None = None) -> int:
    """Take waiting jobs until none is left and no wanted job runs elsewhere (a lost one is
    failed once its heartbeat is stale and comes back as waiting); returns the jobs run."""
    from btcrl.config import TrackingConfig
    from btcrl.tracking import configure_tracking
    from btcrl.walkforward.train import SegmentObjective

    configure_tracking(TrackingConfig(uri=ctx.tracking_uri))  # the store the parent uses
    study = open_study(ctx)
    objective = SegmentObjective(ctx)
    ran = 0
    while True:
        if has_waiting(study):
            study.optimize(objective, n_trials=1, catch=(JobFailedError,))
            ran += 1
            if on_trial is not None:
                on_trial()
        elif running_elsewhere(study, ctx.wanted):
            time.sleep(POLL_S)
        else:
            return ran


def _exit_with_parent() -> None:
    """In a spawned worker: end this process as soon as the process that spawned it ends
    (killed, even by SIGKILL), so that a killed walk-forward leaves no orphan training. The
    job it was running stops sending heartbeats and is retried by the next run."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        logging.getLogger(__name__).error("walk-forward main process ended: worker exits")
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="walkforward-parent-watch", daemon=True).start()


def _process_main(ctx: JobContext) -> None:
    """Entry point of a spawned worker: a watch on the parent, logging, thread limits, then
    ``run_worker``."""
    _exit_with_parent()
    freeze_after_imports(TRAINING_MODULES)  # btcrl.jobs.startup: imports, then gc.freeze
    logging.basicConfig(
        level=ctx.log_level, format=f"%(asctime)s %(levelname)s wf{ctx.index} %(name)s: %(message)s"
    )
    optuna.logging.set_verbosity(optuna.logging.INFO if ctx.log_level <= logging.INFO else 30)
    import torch

    torch.set_num_threads(max(1, ctx.config.train.torch_threads))
    try:
        run_worker(ctx)
    except BtcrlError as exc:
        logging.getLogger(__name__).error("worker %d stopped: %s", ctx.index, exc)
        raise SystemExit(1) from None


def start_workers(ctx: JobContext, workers: int) -> list[mp.process.BaseProcess]:
    """Spawn ``workers`` long-lived worker processes, each with ``cpu_count // workers`` torch
    threads unless ``train.torch_threads`` is set."""
    config = ctx.config
    if config.train.torch_threads == 0:
        threads = max(1, (os.cpu_count() or 1) // workers)
        config = with_overrides(config, {"train.torch_threads": threads})
    spawn = mp.get_context("spawn")
    procs: list[mp.process.BaseProcess] = []
    for index in range(workers):
        job = JobContext(**{**ctx.__dict__, "config": config, "index": index, "keep_models": False})
        proc = spawn.Process(target=_process_main, args=(job,), name=f"walkforward-w{index}")
        proc.start()
        procs.append(proc)
    return procs
