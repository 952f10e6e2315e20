"""Walk-forward workers: this process, or K spawned ones, taking waiting segment x seed jobs
(``btcrl.walkforward.jobs``) and training them (``btcrl.walkforward.train``)."""

import functools
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from btcrl.jobs.processes import (
    WorkerStart,
    end_orphan_runs,
    run_as_worker,
    spawn_workers,
    with_worker_threads,
)
from btcrl.walkforward.jobs import (
    INVOCATION_ATTR,
    POLL_S,
    JobContext,
    JobFailedError,
    has_waiting,
    open_study,
    running_elsewhere,
)
from btcrl.walkforward.train import SegmentObjective

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)


def run_worker(
    ctx: JobContext,
    on_trial: Callable[[], None] | None = None,
    orphaned: Callable[[], bool] | None = None,
) -> int:
    """Take waiting jobs until none is left and no wanted job runs elsewhere (a lost one is
    failed once its heartbeat is stale and comes back as waiting); returns the jobs run.
    ``orphaned()`` true (its walk-forward process is gone) stops it before the next job: the
    watcher's interrupt can be lost (raised inside a weakref callback, "Exception ignored"),
    and a job taken then (a killed sibling's failed one comes back as waiting) would start a
    run after the watcher ended this worker's runs, left RUNNING by its hard exit."""
    from btcrl.config import TrackingConfig
    from btcrl.tracking import configure_tracking

    configure_tracking(TrackingConfig(uri=ctx.tracking_uri))  # the store the parent uses
    study = open_study(ctx)
    segment_objective = SegmentObjective(ctx)

    def objective(trial: "optuna.Trial") -> float:
        trial.set_user_attr(INVOCATION_ATTR, ctx.invocation)  # who trained it (issue 23.9)
        return segment_objective(trial)

    ran = 0
    while True:
        if orphaned is not None and orphaned():
            return ran
        if has_waiting(study):
            study.optimize(objective, n_trials=1, catch=(JobFailedError,))
            ran += 1
            if on_trial is not None:
                on_trial()
        elif running_elsewhere(study, ctx.wanted):
            time.sleep(POLL_S)
        else:
            return ran


def _on_orphan(ctx: JobContext, parent_pid: int) -> Callable[[], object]:
    """What an orphaned worker does before its hard exit: end its in-flight segment run and
    the walk-forward's parent run KILLED (issue 23.8)."""
    from btcrl.tracking import end_orphaned_runs

    return functools.partial(
        end_orphaned_runs,
        ctx.parent_run_id,
        parent_pid,
        ctx.tracking_uri,
        "walk-forward",
        os.getpid(),
    )


def _process_main(ctx: JobContext, parent_pid: int) -> None:
    """Entry point of a spawned worker (``btcrl.jobs.processes.run_as_worker``); an orphaned
    one ends its segment's run and the walk-forward's parent run KILLED."""
    start = WorkerStart(f"wf{ctx.index}", ctx.log_level, ctx.config.train.torch_threads)
    on_orphan = _on_orphan(ctx, parent_pid)
    try:
        loop = functools.partial(run_worker, ctx, orphaned=lambda: os.getppid() != parent_pid)
        run_as_worker(start, loop, parent_pid, on_orphan)
    finally:  # the interrupt (or the last job) ended the loop before the watcher's grace
        if os.getppid() != parent_pid:  # period did: end the parent run KILLED from here
            end_orphan_runs(on_orphan)


def start_workers(ctx: JobContext, workers: int) -> list[mp.process.BaseProcess]:
    """Spawn ``workers`` long-lived worker processes, each with ``cpu_count // workers`` torch
    threads unless ``train.torch_threads`` is set."""
    config = with_worker_threads(ctx.config, workers)
    jobs = [
        JobContext(**{**ctx.__dict__, "config": config, "index": i, "keep_models": False})
        for i in range(workers)
    ]
    return spawn_workers(_process_main, [(job, os.getpid()) for job in jobs], "walkforward")
