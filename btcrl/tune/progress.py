"""Progress over the study's trials, fed by polling the storage (workers may be remote): a
bar the caller draws (the CLI, ``btcrl.cli.common.progress_bar``), or lines."""

import contextlib
import threading
from collections.abc import Callable, Iterator

import optuna
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

POLL_S = 2.0


LINE_EVERY_S = 30.0


@contextlib.contextmanager
def trial_progress(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    first: int,
    total: int,
    bar: Callable[..., None] | None,
    lines: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Report finished/pruned/failed trials numbered ``first`` and later, out of ``total``.

    Polls every POLL_S seconds in a daemon thread while the block runs: ``bar(done, total,
    complete=, pruned=, failed=)`` when given, else (given ``lines``) one line every
    LINE_EVERY_S seconds. Counts trials of other invocations started meanwhile too (several
    machines).
    """
    if bar is None:
        with _progress_lines(storage, study_name, first, total, lines):
            yield
        return
    stop = threading.Event()
    study = optuna.load_study(study_name=study_name, storage=storage)

    def update() -> None:
        try:
            trials = study.get_trials(deepcopy=False)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError):
            return
        done = [t for t in trials if t.number >= first and t.state.is_finished()]
        bar(
            min(len(done), total),
            total,
            complete=sum(t.state == TrialState.COMPLETE for t in done),
            pruned=sum(t.state == TrialState.PRUNED for t in done),
            failed=sum(t.state == TrialState.FAIL for t in done),
        )

    def poll() -> None:
        while not stop.wait(POLL_S):
            update()

    thread = threading.Thread(target=poll, name="tune-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2 * POLL_S)
        update()


@contextlib.contextmanager
def _progress_lines(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    first: int,
    total: int,
    lines: Callable[[str], None] | None,
) -> Iterator[None]:
    """``tune: 3/20 trials done (complete 2, pruned 1, failed 0)`` every LINE_EVERY_S s."""
    if lines is None:
        yield
        return
    stop = threading.Event()
    study = optuna.load_study(study_name=study_name, storage=storage)

    def emit() -> None:
        while not stop.wait(LINE_EVERY_S):
            try:
                trials = study.get_trials(deepcopy=False)
            except (SQLAlchemyError, optuna.exceptions.StorageInternalError):
                continue
            done = [t for t in trials if t.number >= first and t.state.is_finished()]
            counts = {s: sum(t.state == s for t in done) for s in _SHOWN}
            lines(
                f"tune: {min(len(done), total)}/{total} trials done (complete "
                f"{counts[TrialState.COMPLETE]}, pruned {counts[TrialState.PRUNED]}, "
                f"failed {counts[TrialState.FAIL]})"
            )

    thread = threading.Thread(target=emit, name="tune-progress-lines", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2 * POLL_S)


_SHOWN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
