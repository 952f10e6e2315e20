"""Where a study lives: beside the tracking store it belongs to (as a walk-forward's)."""

from pathlib import Path

from btcrl.config import TrackingConfig, TuneConfig
from btcrl.jobs.storage import default_storage_url, resolve_storage_url
from btcrl.tracking.store import resolve_tracking_uri, study_storage_beside


def study_storage_url(
    tune: TuneConfig, tracking: TrackingConfig, project_dir: Path | None = None
) -> str:
    """The study's storage URL, checked (``resolve_storage_url``): ``tune.storage``, else
    beside a sqlite tracking store other than the project's (``<store dir>/studies/<study>.db``,
    as a walk-forward's: a fresh tracking store never meets a stale study), else the
    project's ``studies/<study>.db``."""
    if tune.storage is None:
        uri = resolve_tracking_uri(tracking, project_dir)
        storage = study_storage_beside(uri, tune.study, project_dir)
        storage = storage or default_storage_url(tune.study, project_dir)
        tune = tune.model_copy(update={"storage": storage})
    return resolve_storage_url(tune)
