"""Spawned worker processes, shared by ``tune`` and ``walkforward``: spawn them with their
torch threads, start each one the same way (stop with the parent, the kernel cache guard,
logging, Optuna's verbosity, torch threads, errors as exit codes), and wait for them."""

import _thread
import logging
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.config.redact import RedactingFormatter
from btcrl.errors import BtcrlError
from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports, limit_jax_threads
from btcrl.kernel_cache import drop_stale_kernels

log = logging.getLogger(__name__)

#: seconds between a worker's checks that the process that started it is alive
PARENT_POLL_S = 0.5
#: seconds an orphaned worker has to end its trial's run (KILLED) before it exits anyway
ORPHAN_GRACE_S = 3.0
EXIT_ORPHANED = 3  # a worker's exit code when its parent process died
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class WorkerStart:
    """How one spawned worker starts; picklable. ``tag`` marks its log lines (``w0``)."""

    tag: str
    log_level: int = logging.WARNING
    torch_threads: int = 1


def torch_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """CPU threads each worker's torch may use so K workers do not oversubscribe cores."""
    return max(1, (cpus or os.cpu_count() or 1) // workers)


def with_worker_threads(config: ExperimentConfig, workers: int) -> ExperimentConfig:
    """``config`` with ``train.torch_threads`` = cpu_count // workers unless it is set."""
    if config.train.torch_threads:
        return config
    return with_overrides(config, {"train.torch_threads": torch_threads_per_worker(workers)})


def set_torch_threads(threads: int) -> None:
    """torch's intra-op thread count for this process (0 leaves torch's choice). Only entry
    points call it: the commands and each spawned worker at its start."""
    import torch

    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        log.debug("torch intra-op threads set to %d", threads)
    limit_jax_threads(threads)  # SBX's too, while JAX is not imported yet


#: tries of the hand-over process (``hand_over_orphan_runs``), ORPHAN_RETRY_S apart
HANDOVER_TRIES = 30
ORPHAN_RETRY_S = 1.0


def end_orphan_runs(on_orphan: Callable[[], object]) -> bool:
    """End an orphaned worker's runs from the worker itself: one try of ``on_orphan()``; if it
    fails, False with one warning, and a process of its own takes the clean-up over once this
    worker has exited (``hand_over_orphan_runs``). An interrupt that lands inside one of this
    process's sqlite writes can leave its lock held until the process ends, so more tries
    from inside it could only wait for MLflow's own retries to give up."""
    try:
        on_orphan()
        return True
    except Exception as exc:
        log.warning("could not end this worker's runs: %s", str(exc).splitlines()[0])
    _try_hand_over(on_orphan)
    return False


def retry_orphan_runs(on_orphan: Callable[[], object], tries: int = HANDOVER_TRIES) -> bool:
    """The hand-over process's clean-up: ``on_orphan()`` until it succeeds, ``tries`` times at
    most, ORPHAN_RETRY_S apart (sibling workers end the same parent run in the same second);
    False with one warning when every try failed."""
    for attempt in range(1, tries + 1):
        try:
            on_orphan()
            return True
        except Exception as exc:
            if attempt == tries:
                log.warning("could not end the worker's runs: %s", str(exc).splitlines()[0])
                return False
            time.sleep(ORPHAN_RETRY_S)
    return False


#: the hand-over processes this worker started: their stdin stays open until it exits
_HELD: list[subprocess.Popen[bytes]] = []


def _try_hand_over(on_orphan: Callable[[], object]) -> None:
    """``hand_over_orphan_runs``, never raising: the watcher must still reach its hard exit."""
    try:
        hand_over_orphan_runs(on_orphan)
    except Exception as exc:
        log.warning("could not hand this worker's runs over: %s", str(exc).splitlines()[0])


def hand_over_orphan_runs(on_orphan: Callable[[], object]) -> None:
    """Start ``python -m btcrl.jobs.orphan``: it reads ``on_orphan`` (pickled; it must name
    this worker's pid itself) from its stdin, waits for the end of that pipe, which only this
    process holds and its exit closes, then calls it HANDOVER_TRIES times at most. A plain
    subprocess, not a multiprocessing child: a worker's normal exit would wait for that."""
    act = pickle.dumps(on_orphan)  # before the process: an act that cannot go starts none
    proc = subprocess.Popen([sys.executable, "-m", "btcrl.jobs.orphan"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(act)
    proc.stdin.flush()
    _HELD.append(proc)
    log.warning("process %d ends this worker's runs once it has exited", proc.pid)


def finish_orphan_runs(stream: Any) -> None:
    """The hand-over process's work: read ``on_orphan`` from ``stream``, wait for its end
    (the worker's exit), then end the runs."""
    on_orphan = pickle.load(stream)
    stream.read()  # returns at EOF: the worker is gone, and so are its sqlite locks
    retry_orphan_runs(on_orphan)


def watch_parent(
    parent_pid: int | None = None,
    poll_s: float = PARENT_POLL_S,
    on_orphan: Callable[[], object] | None = None,
) -> threading.Thread:
    """A daemon thread that stops this worker when process ``parent_pid`` (default: the
    parent now) is gone, killed even with SIGKILL: Ctrl-C in the main thread first, so the
    trial's run ends KILLED, then, after ORPHAN_GRACE_S seconds, ``on_orphan`` (it ends from
    this thread the runs the main thread could not: a trial stuck in torch's C code never sees
    the Ctrl-C) and a hard exit (EXIT_ORPHANED)."""
    watched = os.getppid() if parent_pid is None else parent_pid

    def watch() -> None:
        while os.getppid() == watched:
            time.sleep(poll_s)
        log.warning("process %d that started this worker is gone; the worker stops", watched)
        _thread.interrupt_main()
        time.sleep(ORPHAN_GRACE_S)
        if on_orphan is not None:
            end_orphan_runs(on_orphan)
        os._exit(EXIT_ORPHANED)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def start_worker(
    start: WorkerStart,
    parent_pid: int | None = None,
    on_orphan: Callable[[], object] | None = None,
) -> None:
    """What every spawned worker does first: watch the parent (``on_orphan`` as in
    ``watch_parent``), the kernels' cache guard, logging with the worker's tag (credentials
    redacted), Optuna's verbosity and torch's threads. Its libraries are imported with the
    garbage collector paused, then frozen (``btcrl.jobs.startup``). The watcher starts first:
    the imports take tens of seconds on a loaded machine, and a parent killed meanwhile must
    still be noticed (and its runs ended) by a worker that has not trained yet."""
    watch_parent(parent_pid, on_orphan=on_orphan)
    freeze_after_imports((*TRAINING_MODULES, "optuna"))
    import optuna

    drop_stale_kernels()
    log_format = f"%(asctime)s %(levelname)s {start.tag} %(name)s: %(message)s"
    logging.basicConfig(level=start.log_level, format=log_format)
    for handler in logging.getLogger().handlers:  # no credential in a worker's log lines
        handler.setFormatter(RedactingFormatter(log_format))
    optuna.logging.set_verbosity(optuna.logging.INFO if start.log_level <= logging.INFO else 30)
    set_torch_threads(max(1, start.torch_threads))


def run_as_worker(
    start: WorkerStart,
    loop: Callable[[], Any],
    parent_pid: int | None = None,
    on_orphan: Callable[[], object] | None = None,
) -> None:
    """``start_worker``, then ``loop``; a BtcrlError ends the worker with exit code 1 and one
    logged line, Ctrl-C (or a lost parent) with EXIT_INTERRUPTED, during the start too: the
    watcher's interrupt may land there, and a KeyboardInterrupt that escaped would end the
    process (and its daemon watcher) before anyone ended the runs KILLED."""
    try:
        start_worker(start, parent_pid, on_orphan)
        loop()
    except BtcrlError as exc:
        log.error("worker %s stopped: %s", start.tag, exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None


def spawn_workers(
    target: Callable[..., None], args: list[tuple[Any, ...]], name: str
) -> list[BaseProcess]:
    """Start one spawned process per ``args`` entry running ``target(*args[i])``, named
    ``<name>-w<i>``."""
    spawn = mp.get_context("spawn")
    procs: list[BaseProcess] = []
    for index, worker_args in enumerate(args):
        proc = spawn.Process(target=target, args=worker_args, name=f"{name}-w{index}")
        proc.start()
        procs.append(proc)
    return procs


def wait_workers(
    procs: list[BaseProcess],
    label: str,
    poll_s: float | None = None,
    on_poll: Callable[[], None] | None = None,
) -> list[int]:
    """Join ``procs``, calling ``on_poll`` about every ``poll_s`` seconds while any runs (if
    given); Ctrl-C terminates and joins them all, then propagates. Returns the exit codes (-1
    for none) and warns for each worker that did not exit 0."""
    try:
        while any(p.is_alive() for p in procs):
            for proc in procs:
                proc.join(timeout=None if poll_s is None else poll_s / len(procs))
            if on_poll is not None:
                on_poll()
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()
        raise
    codes = [p.exitcode if p.exitcode is not None else -1 for p in procs]
    for index, code in enumerate(codes):
        if code != 0:
            log.warning("%s worker %d exited with code %s", label, index, code)
    return codes
