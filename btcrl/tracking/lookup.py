"""Reading runs back: tags, params, text artifacts, downloads, and runs found by tag."""

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from btcrl.errors import BtcrlError
from btcrl.tracking import tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """What callers need of a found run: id, experiment, status and tags."""

    run_id: str
    experiment_id: str
    status: str
    tags: dict[str, str]


def get_run(run_id: str) -> RunInfo:
    """Run ``run_id``; BtcrlError naming it when the store has no such run."""
    try:
        run = MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise BtcrlError(f"run {run_id!r} was not found in the tracking store") from None
    return RunInfo(run.info.run_id, run.info.experiment_id, run.info.status, dict(run.data.tags))


def run_tags(run_id: str | None) -> dict[str, str]:
    """Tags of run ``run_id`` ({} when there is none or it cannot be read, with a warning)."""
    if not run_id:
        return {}
    try:
        return dict(MlflowClient().get_run(run_id).data.tags)
    except mlflow.exceptions.MlflowException as exc:
        log.warning("cannot read run %s: %s", run_id, exc)
        return {}


def load_run_text(run_id: str, artifact_file: str) -> str | None:
    """The text of artifact ``artifact_file`` of run ``run_id``; None when it is missing."""
    try:
        return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact_file}"))
    except (mlflow.exceptions.MlflowException, OSError):
        return None


def download_run_artifact(run_id: str, artifact_path: str, dst_dir: Path) -> Path:
    """Download one artifact of run ``run_id`` into ``dst_dir``; its local path.

    Raises BtcrlError naming the run and the artifact when it is missing.
    """
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_path, dst_path=str(dst_dir)
        )
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BtcrlError(f"run {run_id} has no artifact {artifact_path}: {message}") from None
    return Path(local)


def experiment_name_of(run_id: str) -> str | None:
    """The experiment name of run ``run_id``; None (with a warning) when it cannot be read."""
    client = MlflowClient()
    try:
        return str(client.get_experiment(client.get_run(run_id).info.experiment_id).name)
    except mlflow.exceptions.MlflowException as exc:
        log.warning("cannot read run %s: %s", run_id, exc)
        return None


def all_experiment_ids() -> list[str]:
    """Ids of every active experiment of the store."""
    return [e.experiment_id for e in MlflowClient().search_experiments()]


def find_runs(
    experiment_ids: list[str], tag_filters: dict[str, str], running_only: bool = False
) -> list[RunInfo]:
    """Runs of ``experiment_ids`` whose tags equal ``tag_filters`` (optionally only RUNNING)."""
    clauses = [f"tags.`{key}` = '{value}'" for key, value in tag_filters.items()]
    if running_only:
        clauses.insert(0, "attributes.status = 'RUNNING'")
    runs = MlflowClient().search_runs(
        experiment_ids, filter_string=" and ".join(clauses), max_results=10_000
    )
    return [
        RunInfo(r.info.run_id, r.info.experiment_id, r.info.status, dict(r.data.tags)) for r in runs
    ]


def end_run_as(run_id: str, status: str, reason: str) -> bool:
    """End run ``run_id`` (not the active one) with ``status`` (FAILED | KILLED) and the
    reason in ``btcrl.end_reason``; False (with a warning) when the store refuses."""
    client = MlflowClient()
    try:
        client.set_tag(run_id, tags.END_REASON, reason[:500])
        client.set_terminated(run_id, RunStatus.to_string(getattr(RunStatus, status)))
    except mlflow.exceptions.MlflowException as exc:
        log.warning("could not close MLflow run %s: %s", run_id, exc)
        return False
    return True


def artifact_location(run_id: str, artifact_file: str) -> str:
    """Where artifact ``artifact_file`` of run ``run_id`` lives: a local path when the
    artifact store is local (open it in a browser), else its URI."""
    from urllib.parse import unquote, urlparse

    root = str(MlflowClient().get_run(run_id).info.artifact_uri)
    parsed = urlparse(root)
    if parsed.scheme in ("", "file"):
        return str(Path(unquote(parsed.path)) / artifact_file)
    return f"{root.rstrip('/')}/{artifact_file}"
