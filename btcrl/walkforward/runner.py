"""``run_walkforward``: split, run the missing segment x seed jobs, stitch, log.

See docs/walkforward.md. Steps:

1. load the candles of ``config.data`` and split them into calendar-month segments;
2. open (or create) the Optuna study named ``walkforward.name`` in the storage and check that
   an existing one was made with the same split, market and recipe (else ConfigError);
3. create the parent MLflow run once (its id lives in the study) and enqueue every wanted
   job that is not finished, running or waiting;
4. run the jobs in this process or in ``walkforward.workers`` spawned workers; the parent
   run is RUNNING meanwhile and ends FINISHED after step 5, KILLED on Ctrl-C (or SIGTERM)
   and FAILED on an error, with the reason in ``btcrl.end_reason``;
5. stitch every segment finished for all seeds, log the out-of-sample metrics to each job's
   run and the stitched results, ``segments.csv``, the stitched steps/trades and the report
   to the parent; register the latest segment's model (primary seed) with alias challenger.
"""

import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from btcrl.config import ExperimentConfig, flatten_config
from btcrl.config.redact import redact
from btcrl.data.timeframes import timeframe_timedelta
from btcrl.errors import ConfigError, interruption
from btcrl.jobs.processes import wait_workers
from btcrl.jobs.settings import flat_settings, settings_differences
from btcrl.jobs.storage import make_storage, redact_url, resolve_storage_url
from btcrl.tracking import tags as tag_names
from btcrl.walkforward import jobs
from btcrl.walkforward.split import Segment, make_segments, select_segments
from btcrl.walkforward.workers import run_worker, start_workers

log = logging.getLogger(__name__)

PARENT_ATTR = "parent_run_id"
SIGNATURE_ATTR = "signature"
RECIPE_ATTR = "recipe_settings"
Progress = Callable[[int, int], None]  # (finished wanted jobs, wanted jobs)


@dataclass
class WalkforwardResult:
    """What a walk-forward invocation did and found."""

    name: str
    storage: str  # password hidden
    parent_run_id: str
    segments: list[Segment]
    wanted: int
    trained: int  # jobs trained by this invocation (its own workers)
    finished: int  # wanted jobs finished after it
    trained_in_study: int = 0  # jobs finished in the study while it ran, by any process
    metrics: dict[str, float] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    registered_version: int | None = None
    registered_name: str | None = None  # the registered model's name, with the version
    worker_exit_codes: list[int] = field(default_factory=list)


def _recipe(config: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """The settings a resumed walk-forward must share (features, env, agent, train)."""
    recipe = config.model_dump(mode="json", include={"features", "env", "agent", "train"})
    recipe["train"].pop("torch_threads", None)
    recipe["train"].pop("seeds", None)  # btcrl train's ensembles; a walk-forward's are its own
    if recipe["env"].get("action_levels") is None:  # off: studies made before it existed resume
        recipe["env"].pop("action_levels", None)
    return recipe


def signature(config: ExperimentConfig, first: Segment) -> dict[str, str]:
    """What a resumed walk-forward must share with the one that made the study: the split,
    the market and a hash of the recipe (features, env, agent, train, backtest)."""
    wf = config.walkforward
    recipe = _recipe(config)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "split": f"train={wf.train_months} val={wf.val_months} test={wf.test_months} "
        f"anchored={wf.anchored} embargo={wf.embargo_bars} first={first.train_start:%Y-%m-%d}",
        "market": f"{config.data.source} {config.data.exchange} {config.data.symbol} "
        f"{config.data.timeframe}",
        "recipe": digest,
    }


def recipe_settings(config: ExperimentConfig) -> dict[str, str]:
    """The recipe flattened (``agent.learning_rate`` -> ``'0.0003'``), kept in the study so
    that a mismatch can name the settings that differ."""
    return flat_settings(_recipe(config))


def _open_study(config: ExperimentConfig, url: str, segments: list[Segment]) -> optuna.Study:
    wf = config.walkforward
    storage = make_storage(url, config.tune)
    study = optuna.create_study(
        study_name=wf.name,
        storage=storage,
        sampler=jobs.grid_sampler(len(segments), wf.seeds),
        direction="maximize",
        load_if_exists=True,
    )
    mine = signature(config, segments[0])
    theirs = study.user_attrs.get(SIGNATURE_ATTR)
    if theirs is None:
        study.set_user_attr(SIGNATURE_ATTR, mine)
        study.set_user_attr(RECIPE_ATTR, recipe_settings(config))
        return study
    for key, value in mine.items():
        if theirs.get(key) == value:
            continue
        made = f"{key} {theirs.get(key)!r}, not {value!r}"
        if key == "recipe" and RECIPE_ATTR in study.user_attrs:
            made = settings_differences(study.user_attrs[RECIPE_ATTR], recipe_settings(config))
        raise ConfigError(
            f"walk-forward {wf.name!r} ({redact_url(url)}) was made with {made}: use another "
            "--name (or the same settings) to keep results apart"
        )
    return study


def parent_params(config: ExperimentConfig) -> dict[str, str]:
    """The params that apply to a walk-forward: what each segment's training logs
    (``btcrl.agents.run_info.run_params``), the ``walkforward`` section, and ``pretrain``
    only with per-segment encoders; never ``tune``, ``promote`` or ``tracking``."""
    from btcrl.agents.run_info import run_params

    sections = ("walkforward", "pretrain") if config.pretrain.per_segment else ("walkforward",)
    extra = {k: v for k, v in flatten_config(config).items() if k.split(".")[0] in sections}
    return {**run_params(config), **extra}


def _parent_run(config: ExperimentConfig, study: optuna.Study, url: str) -> str:
    from btcrl.tracking.walkforward import create_parent_run

    existing = study.user_attrs.get(PARENT_ATTR)
    if existing:
        return str(existing)
    wf = config.walkforward
    tags = {tag_names.WALKFORWARD_NAME: wf.name, tag_names.STORAGE: redact_url(url)}
    run_id = create_parent_run(wf.experiment, f"walkforward-{wf.name}", tags, parent_params(config))
    study.set_user_attr(PARENT_ATTR, run_id)
    return run_id


def run_walkforward(
    config: ExperimentConfig, *, progress: Progress | None = None, step_progress: bool = False
) -> WalkforwardResult:
    """Run (or resume, or join) the walk-forward ``config.walkforward.name``; see the module
    doc. ``progress(done, wanted)`` is called as jobs finish; ``step_progress`` shows a bar
    over each training's env-steps when the jobs run in this process.

    Raises ConfigError for a split that does not fit the data or a study made with other
    settings, DataError for missing data, before any training starts."""
    from btcrl.tracking import configure_tracking
    from btcrl.tracking.store import study_storage_beside

    wf = config.walkforward
    tracking_uri = configure_tracking(config.tracking)
    candles, segments, selected = _split(config)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # segments do not compete:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "Best is trial" lines
    storage = wf.storage or study_storage_beside(tracking_uri, wf.name)
    url = resolve_storage_url(config.tune.model_copy(update={"storage": storage, "study": wf.name}))
    study = _open_study(config, url, segments)
    parent = _parent_run(config, study, url)
    wanted = [(s.index, seed) for s in selected for seed in wf.seeds]
    ctx = jobs.JobContext(
        config=config,
        segments=tuple(segments),
        storage_url=url,
        tracking_uri=tracking_uri,
        parent_run_id=parent,
        wanted=frozenset(wanted),
        step_progress=step_progress and wf.workers == 1,
        log_level=logging.getLogger().getEffectiveLevel(),
        invocation=uuid.uuid4().hex,
    )
    from btcrl.tracking.walkforward import end_parent_run, open_parent_run

    open_parent_run(parent)  # RUNNING while its segments run (issue 23.8)
    try:
        result = _run_and_aggregate(ctx, study, candles, wanted, progress)
    except BaseException as exc:
        interrupt = interruption(exc)
        status = "KILLED" if interrupt is not None else "FAILED"
        end_parent_run(parent, status, _reason(interrupt or exc))
        raise
    end_parent_run(parent)  # its duration spans the segments it ran
    return result


def _reason(exc: BaseException) -> str:
    """``btcrl.end_reason`` of a parent run ended by ``exc``: its type and first line."""
    text = redact(str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _run_and_aggregate(
    ctx: jobs.JobContext,
    study: optuna.Study,
    candles: pd.DataFrame,
    wanted: list[jobs.Job],
    progress: Progress | None,
) -> WalkforwardResult:
    """Enqueue the missing jobs, run them, then stitch and log what is finished."""
    wf = ctx.config.walkforward
    complete_before = _completed(study)
    todo = jobs.enqueue_missing(study, wanted)
    log.info("walk-forward %s: %d jobs wanted, %d to run", wf.name, len(wanted), len(todo))

    def report() -> None:
        if progress is not None:
            done = jobs.jobs_in(study, (optuna.trial.TrialState.COMPLETE,))
            progress(sum(job in done for job in wanted), len(wanted))

    report()
    codes = _run_jobs(ctx, wf.workers, report) if todo else []
    complete = jobs.jobs_in(study, (optuna.trial.TrialState.COMPLETE,))
    result = WalkforwardResult(
        name=wf.name,
        storage=redact_url(ctx.storage_url),
        parent_run_id=ctx.parent_run_id,
        segments=list(ctx.segments),
        wanted=len(wanted),
        trained=jobs.trained_by(study, ctx.invocation),
        trained_in_study=_completed(study) - complete_before,
        finished=sum(job in complete for job in wanted),
        worker_exit_codes=codes,
    )
    _aggregate(ctx.config, study, list(ctx.segments), candles, result)
    return result


def _split(config: ExperimentConfig) -> tuple[pd.DataFrame, list[Segment], list[Segment]]:
    """The candles of ``config.data``, every segment they hold and the selected ones."""
    from btcrl.data import load_candles

    candles = load_candles(config.data)
    bar = timeframe_timedelta(config.data.timeframe)
    segments = make_segments(candles.index[0], candles.index[-1] + bar, config.walkforward, bar)
    return candles, segments, select_segments(segments, config.walkforward.segments)


def _completed(study: optuna.Study) -> int:
    """COMPLETE trials of the study (finished jobs, duplicates of a job included)."""
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _run_jobs(ctx: jobs.JobContext, workers: int, report: Callable[[], None]) -> list[int]:
    """Run the waiting jobs in this process (one worker) or in spawned workers, calling
    ``report`` as jobs finish (every few seconds for spawned workers)."""
    if workers == 1:
        run_worker(ctx, on_trial=report)
        return []
    procs = start_workers(ctx, workers)
    return wait_workers(procs, "walk-forward", poll_s=jobs.POLL_S, on_poll=report)


def _aggregate(
    config: ExperimentConfig,
    study: optuna.Study,
    segments: list[Segment],
    candles: pd.DataFrame,
    result: WalkforwardResult,
) -> None:
    """Stitch what is finished and log it (nothing when no segment is finished)."""
    from btcrl.walkforward.aggregate import aggregate
    from btcrl.walkforward.policies import forget_policies
    from btcrl.walkforward.publish import log_aggregate

    finished = jobs.finished_jobs(study)
    try:
        agg = aggregate(config, segments, finished, candles)
    finally:
        forget_policies()  # models kept for a stitch that did not need them
    if agg is None:
        log.warning("walk-forward %s: no segment is finished for every seed yet", result.name)
        return
    result.metrics = agg.metrics
    result.table = agg.table
    with tempfile.TemporaryDirectory(prefix="btcrl-walkforward-") as tmp:
        result.registered_version = log_aggregate(config, agg, result.parent_run_id, Path(tmp))
    if result.registered_version is not None:
        from btcrl.walkforward.publish import model_name

        result.registered_name = model_name(config)
