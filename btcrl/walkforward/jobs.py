"""Segment x seed jobs coordinated through an Optuna study (the storage ``btcrl tune`` uses).

The study is named after the walk-forward. Its sampler is a GridSampler over (segment, seed);
every job this invocation wants and that is not finished, running or waiting is enqueued,
and long-lived workers (``btcrl.walkforward.workers``: this process, or K spawned ones, on any
machine sharing the storage) take waiting trials one at a time. A trial trains one segment for
one seed and records the train run and model in its user attributes; a trial whose worker
dies stops sending heartbeats, is failed and re-enqueued (``tune.heartbeat_interval``,
``tune.max_retry``). A finished (COMPLETE) job is never trained again.
"""

import logging
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from btcrl.config import ExperimentConfig
from btcrl.errors import BtcrlError
from btcrl.jobs.storage import make_storage
from btcrl.walkforward.split import Segment

log = logging.getLogger(__name__)

Job = tuple[int, int]  # (segment index, seed)
SEED_HIGH = 2**31 - 1
POLL_S = 5.0  # seconds between looks at jobs running elsewhere
RESULT_ATTR = "result"  # a finished trial's user attribute: run_id, model_uri, val/* metrics
INVOCATION_ATTR = "invocation"  # a trial's user attribute: the invocation that took it
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
    invocation: str = ""  # id of the walk-forward invocation whose workers take the jobs


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


def trained_by(study: optuna.Study, invocation: str) -> int:
    """COMPLETE trials taken by the workers of ``invocation`` (not by other processes)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sum(t.user_attrs.get(INVOCATION_ATTR) == invocation for t in trials)


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
