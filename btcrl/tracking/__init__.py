"""MLflow at the edge: tracking URI, experiments, runs and their standard tags."""

from btcrl.tracking.runs import (
    DATA_HASH_TAG,
    STAGE_TAG,
    configure_tracking,
    ensure_experiment,
    git_commit,
    start_run,
)

__all__ = [
    "DATA_HASH_TAG",
    "STAGE_TAG",
    "configure_tracking",
    "ensure_experiment",
    "git_commit",
    "start_run",
]
