"""Waiting on spawned worker processes: shared by ``tune`` and ``walkforward``."""

import logging
from collections.abc import Callable
from multiprocessing.process import BaseProcess

log = logging.getLogger(__name__)


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
