"""A trained policy's files (actor.pt, SB3 zip, spec, config), its pyfunc model and registry."""

import json
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.config import ExperimentConfig, dump_config
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSpec

log = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MODEL_ARTIFACT = "model"  # the pyfunc model's name inside the run
SB3_ZIP = "model.zip"
ACTOR_FILE = "actor.pt"
SPEC_FILE = "feature_spec.json"
CONFIG_FILE = "config.yaml"
_REQUIREMENTS = (
    "mlflow",
    "numpy",
    "pyyaml",
    "torch",
    "stable-baselines3",
    "sb3-contrib",
    "gymnasium",
)


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model (local version labels like ``+cpu`` dropped)."""
    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={version(package).split('+')[0]}")
        except PackageNotFoundError:  # pragma: no cover - all are install requirements
            pins.append(package)
    return pins


def write_policy_files(
    model: BaseAlgorithm, spec: FeatureSpec, config: ExperimentConfig, out_dir: Path
) -> dict[str, Path]:
    """Save ``model.zip`` (SB3), ``actor.pt`` (policy state dict, CPU tensors),
    ``feature_spec.json`` and ``config.yaml`` into ``out_dir``; return them by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "sb3_model": out_dir / SB3_ZIP,
        "actor": out_dir / ACTOR_FILE,
        "feature_spec": out_dir / SPEC_FILE,
        "config": out_dir / CONFIG_FILE,
    }
    model.save(paths["sb3_model"])
    state = {k: v.detach().cpu() for k, v in model.policy.state_dict().items()}
    torch.save(state, paths["actor"])
    paths["feature_spec"].write_text(spec.to_json())
    paths["config"].write_text(dump_config(config))
    return paths


def policy_signature(obs_size: int, action_size: int = 2) -> ModelSignature:
    """float32 tensors: observations (-1, obs_size) in, actions (-1, action_size) out."""
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, obs_size))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, action_size))]),
    )


def log_policy_model(
    files: dict[str, Path], spec: FeatureSpec, input_example: np.ndarray
) -> ModelInfo:
    """Log the pyfunc model (models-from-code) named ``model`` into the active run."""
    artifacts = {k: str(files[k]) for k in ("sb3_model", "feature_spec", "config")}
    return mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=str(PYFUNC_CODE),
        artifacts=artifacts,
        pip_requirements=pip_requirements(),
        signature=policy_signature(spec.observation_size, spec.action_size),
        input_example=np.asarray(input_example, dtype=np.float32),
    )


def register_model(run_id: str, name: str, alias: str | None = "candidate") -> int:
    """Register run ``run_id``'s ``model`` as a new version of ``name``; point ``alias`` at it.

    Returns the new version number. Raises BtcrlError if the run has no logged model.
    """
    try:
        result = mlflow.register_model(logged_model_uri(run_id), name)
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(
            f"cannot register run {run_id}'s model as {name!r}: {exc.message}"
        ) from None
    model_version = int(result.version)
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, str(model_version))
    log.info("registered %s version %d (alias %s)", name, model_version, alias)
    return model_version


def logged_model_uri(run_id: str) -> str:
    """``models:/<model id>`` of run ``run_id``'s logged ``model`` (MLflow 3 keeps logged
    models apart from run artifacts), else ``runs:/<run_id>/model``."""
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
        found = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL_ARTIFACT}'",
        )
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(f"run {run_id} not found: {exc.message}") from None
    if found:
        return f"models:/{found[0].model_id}"
    return f"runs:/{run_id}/{MODEL_ARTIFACT}"


def validation_report(
    history: list[dict[str, float]], best: dict[str, float], best_step: int
) -> str:
    """The ``metrics.json`` text: every validation, and the one the model was chosen by."""
    return json.dumps(
        {"best_step": best_step, "best": best, "history": history}, indent=2, sort_keys=True
    )
