"""MLflow at the edge: the only package that imports mlflow (docs/internals.md).

- :mod:`~btcrl.tracking.store`: which store, opened safely; named experiments
- :mod:`~btcrl.tracking.runs`: start/adopt a run, end it with a reason, log params
- :mod:`~btcrl.tracking.records`: metrics, tags, artifacts and dataset inputs of a run
- :mod:`~btcrl.tracking.lookup`: reading runs back, finding runs by tag, closing lost runs
- :mod:`~btcrl.tracking.models`: the pyfunc policy model, the registry, model URIs
- :mod:`~btcrl.tracking.tags`: every tag name
- :mod:`~btcrl.tracking.stale`: runs left RUNNING by dead processes
- :mod:`~btcrl.tracking.sb3_logger`: SB3's logger as an MLflow sink (imports SB3, so not here)
"""

from btcrl.tracking.records import (
    log_artifact,
    log_artifacts,
    log_candles,
    log_dict,
    log_metrics,
    log_text,
    set_tags,
)
from btcrl.tracking.runs import (
    active_run_id,
    end_orphaned_runs,
    git_commit,
    log_params,
    start_run,
)
from btcrl.tracking.stale import mark_stale_runs, process_tags
from btcrl.tracking.store import (
    configure_tracking,
    ensure_experiment,
    set_tracking_uri,
    tracking_uri,
)

__all__ = [
    "active_run_id",
    "configure_tracking",
    "end_orphaned_runs",
    "ensure_experiment",
    "git_commit",
    "log_artifact",
    "log_artifacts",
    "log_candles",
    "log_dict",
    "log_metrics",
    "log_params",
    "log_text",
    "mark_stale_runs",
    "process_tags",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "tracking_uri",
]
