"""Continue a train run: its config, its last checkpoint, its FeatureSpec."""

import logging
from pathlib import Path

import mlflow
import yaml
from mlflow.tracking import MlflowClient

from btcrl.config import ExperimentConfig, build_config
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSpec

log = logging.getLogger(__name__)

RESUMED_FROM_TAG = "btcrl.resumed_from"
#: where a checkpoint may be in a run, newest state first
CHECKPOINT_CANDIDATES = ("checkpoints/last.zip", "model.zip")


def _download(run_id: str, path: str, dst: Path) -> Path:
    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    )


def _check_run(run_id: str) -> None:
    try:
        MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise BtcrlError(
            f"run {run_id!r} to resume from was not found in the tracking store"
        ) from None


def resume_config(run_id: str) -> ExperimentConfig:
    """The config that run ``run_id`` trained with (its ``config.yaml`` artifact)."""
    _check_run(run_id)
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml")
    except mlflow.exceptions.MlflowException:
        raise BtcrlError(
            f"run {run_id} has no config.yaml artifact: not a btcrl train run"
        ) from None
    return build_config(yaml.safe_load(text) or {})


def fetch_checkpoint(run_id: str, dst: Path) -> tuple[Path, FeatureSpec]:
    """Download run ``run_id``'s newest SB3 checkpoint and its FeatureSpec into ``dst``."""
    _check_run(run_id)
    dst.mkdir(parents=True, exist_ok=True)
    for candidate in CHECKPOINT_CANDIDATES:
        try:
            path = _download(run_id, candidate, dst)
        except (mlflow.exceptions.MlflowException, OSError):
            continue
        try:
            spec = FeatureSpec.from_json(_download(run_id, "feature_spec.json", dst).read_text())
        except (mlflow.exceptions.MlflowException, OSError):
            raise BtcrlError(f"run {run_id} has no feature_spec.json artifact") from None
        log.info("resuming from %s of run %s", candidate, run_id)
        return path, spec
    looked = ", ".join(CHECKPOINT_CANDIDATES)
    raise BtcrlError(f"run {run_id} has no checkpoint to resume from (looked for {looked})")
