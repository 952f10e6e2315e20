"""MLflow calls of ``btcrl walkforward``: the parent run, late metrics on finished child runs,
and tags on the registered model version (docs/walkforward.md)."""

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from btcrl.tracking import tags as tag_names
from btcrl.tracking.runs import log_params, start_run
from btcrl.tracking.stale import process_tags

log = logging.getLogger(__name__)

BATCH = 100  # MLflow accepts at most 1000 metrics / 100 params per batch


def create_parent_run(
    experiment: str, run_name: str, tags: Mapping[str, str], params: Mapping[str, str]
) -> str:
    """Create the walk-forward's parent run with its params (it ends at once; each invocation
    reopens it with ``open_parent_run`` and ends it with ``end_parent_run``). Returns its id."""
    with start_run(experiment, "walkforward", run_name=run_name, tags=tags) as run:
        items = list(params.items())
        for i in range(0, len(items), BATCH):
            log_params(dict(items[i : i + BATCH]))
        return str(run.info.run_id)


def child_run(
    experiment: str,
    parent: str,
    run_name: str,
    match: Mapping[str, str],
    *,
    without: str | None = None,
    fill: Callable[[], object] | None = None,
) -> str:
    """The run nested under ``parent`` whose tags hold ``match`` (and no tag ``without``),
    made by an earlier call; else a new one, tagged so, in which ``fill()`` runs while it is
    active (e.g. to log a model), ended at once. Returns its id. A walk-forward's seed
    ensemble keeps its results and models in such runs."""
    from btcrl.tracking.lookup import find_runs

    wanted = {tag_names.WALKFORWARD_PARENT_RUN: parent, **match}
    experiment_id = MlflowClient().get_run(parent).info.experiment_id
    found = [r for r in find_runs([experiment_id], wanted) if without not in r.tags]
    if found:
        return found[0].run_id
    with start_run(
        experiment, "walkforward", run_name=run_name, tags=wanted, parent_run_id=parent
    ) as run:
        if fill is not None:
            fill()
        return str(run.info.run_id)


def open_parent_run(run_id: str) -> None:
    """Mark the parent run RUNNING while this process runs its segments, owned by this
    process (host, pid tags): if it dies, the next run started on this host marks it KILLED
    (``btcrl.tracking.stale``) and a spawned worker that outlives it ends it KILLED."""
    client = MlflowClient()
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in process_tags().items()])
    client.update_run(run_id, status="RUNNING")


def end_parent_run(run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
    """End the parent run now with ``status`` (KILLED and FAILED with ``reason`` in
    ``btcrl.end_reason``), so that it spans the segment runs it waited for."""
    try:
        client = MlflowClient()
        if reason is not None:
            client.set_tag(run_id, tag_names.END_REASON, reason[:500])
        client.set_terminated(run_id, status)
    except mlflow.exceptions.MlflowException as exc:
        log.warning("could not end walk-forward run %s: %s", run_id, exc)


def _values(metrics: Mapping[str, float]) -> dict[str, float]:
    """Every metric with a value, NaN and +-inf included (MLflow stores NaN as NaN and +-inf
    as +-max float): a re-aggregation must overwrite an earlier finite value, e.g. a minimum
    track record that became infinite."""
    return {k: float(v) for k, v in metrics.items() if v is not None}


def log_results(
    run_id: str,
    metrics: Mapping[str, float],
    tags: Mapping[str, str] | None = None,
    artifacts: Path | None = None,
) -> None:
    """Log metrics (NaN and +-inf included), tags and the files under ``artifacts`` to an
    existing run, finished or not (a segment's train run, the walk-forward's parent)."""
    client = MlflowClient()
    stamp = int(mlflow.utils.time.get_current_time_millis())
    metric_list = [Metric(k, v, stamp, 0) for k, v in _values(metrics).items()]
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for i in range(0, max(len(metric_list), len(tag_list)), BATCH):
        client.log_batch(run_id, metrics=metric_list[i : i + BATCH], tags=tag_list[i : i + BATCH])
    if artifacts is not None:
        client.log_artifacts(run_id, str(artifacts))


def tag_model_version(name: str, version: int, tags: Mapping[str, str], description: str) -> None:
    """Tags and a description on a registered model version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))
    client.update_model_version(name, str(version), description=description)
