"""MLflow at the edge: tracking URI, experiments, runs and their standard tags.

The SB3 logger sink lives in :mod:`btcrl.tracking.sb3_logger` (imports SB3, so not here).
"""

from btcrl.tracking.runs import (
    DATA_HASH_TAG,
    GIT_COMMIT_TAG,
    STAGE_TAG,
    configure_tracking,
    ensure_experiment,
    git_commit,
    log_params,
    start_run,
)
from btcrl.tracking.stale import END_REASON_TAG, mark_stale_runs, process_tags

__all__ = [
    "DATA_HASH_TAG",
    "END_REASON_TAG",
    "GIT_COMMIT_TAG",
    "STAGE_TAG",
    "configure_tracking",
    "ensure_experiment",
    "git_commit",
    "log_params",
    "mark_stale_runs",
    "process_tags",
    "start_run",
]
