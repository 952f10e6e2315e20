"""Walk-forward workers: this process, or K spawned ones, taking waiting segment x seed jobs
(``btcrl.walkforward.jobs``) and training them (``btcrl.walkforward.train``)."""

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable

import optuna

from btcrl.config import with_overrides
from btcrl.errors import BtcrlError
from btcrl.kernel_cache import drop_stale_kernels
from btcrl.walkforward.jobs import (
    POLL_S,
    JobContext,
    JobFailedError,
    has_waiting,
    open_study,
    running_elsewhere,
)
from btcrl.walkforward.train import SegmentObjective

log = logging.getLogger(__name__)

EXIT_ORPHANED = 3  # a worker's exit code when its parent process died


def run_worker(ctx: JobContext, on_trial: Callable[[], None] | None = None) -> int:
    """Take waiting jobs until none is left and no wanted job runs elsewhere (a lost one is
    failed once its heartbeat is stale and comes back as waiting); returns the jobs run."""
    from btcrl.config import TrackingConfig
    from btcrl.tracking import configure_tracking

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
    drop_stale_kernels()  # a spawned process: the kernels' cache guard first
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
