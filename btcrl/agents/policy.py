"""Load a trained policy by model URI for backtests and serving: ``load_policy``."""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import yaml
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.agents.algos import load_model
from btcrl.agents.validation import ActFn, deterministic_act
from btcrl.config import ExperimentConfig, build_config
from btcrl.errors import BtcrlError, CompatibilityError
from btcrl.features.spec import FeatureSpec

log = logging.getLogger(__name__)

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_RUN_URI = re.compile(r"^runs:/(?P<run_id>[0-9a-f]+)/(?P<path>.+)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")


@dataclass
class LoadedPolicy:
    """A trained policy with the FeatureSpec and config it was trained with.

    ``predict(obs)``: float32 (N, obs_size) observations in ``spec.observation_names`` order
    -> float32 (N, 2) deterministic actions ``[a_pos, a_sl]`` in [-1, 1], equal to the SB3
    model's ``predict(obs, deterministic=True)`` (without its per-call overhead).
    """

    model: BaseAlgorithm
    spec: FeatureSpec
    config: ExperimentConfig
    model_uri: str
    source_run_id: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    _act: ActFn | None = field(default=None, repr=False, compare=False)

    def predict(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim == 1:
            obs = obs[None, :]
        if obs.ndim != 2 or obs.shape[1] != self.spec.observation_size:
            raise CompatibilityError(
                f"observation shape {obs.shape} does not fit model {self.model_uri}: "
                f"expected (N, {self.spec.observation_size})"
            )
        if self._act is None:
            self._act = deterministic_act(self.model)
        return np.asarray(self._act(obs), dtype=np.float32).reshape(obs.shape[0], -1)


def load_policy(model_uri: str) -> LoadedPolicy:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/V``, ``runs:/ID/model`` or a local model
    directory (one holding ``MLmodel``) onto the CPU. Raises BtcrlError naming the URI."""
    name, model_version, run_id = _resolve(model_uri)
    local = _download(model_uri)
    meta = Model.load(str(local / "MLmodel"))
    run_id = run_id or meta.run_id
    flavor = meta.flavors.get("python_function", {})
    files = {k: local / v["path"] for k, v in (flavor.get("artifacts") or {}).items()}
    missing = {"sb3_model", "feature_spec", "config"} - set(files)
    if missing:
        raise BtcrlError(f"{model_uri} is not a btcrl policy model: no {sorted(missing)} artifacts")
    spec = FeatureSpec.from_json(files["feature_spec"].read_text())
    config = build_config(yaml.safe_load(files["config"].read_text()) or {})
    model = load_model(config.agent.algo, files["sb3_model"], env=None, device="cpu")
    log.info("loaded %s (%s, run %s)", model_uri, config.agent.algo, run_id)
    return LoadedPolicy(
        model=model,
        spec=spec,
        config=config,
        model_uri=model_uri,
        source_run_id=run_id,
        model_name=name,
        model_version=model_version,
    )


def _resolve(model_uri: str) -> tuple[str | None, int | None, str | None]:
    """(registered name, version, source run id) of ``model_uri`` as far as the URI tells."""
    client = MlflowClient()
    try:
        if match := _ALIAS_URI.match(model_uri):
            mv = client.get_model_version_by_alias(match["name"], match["alias"])
            return match["name"], int(mv.version), mv.run_id
        if match := _VERSION_URI.match(model_uri):
            mv = client.get_model_version(match["name"], match["version"])
            return match["name"], int(mv.version), mv.run_id
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(f"model {model_uri} not found in the registry: {exc.message}") from None
    if match := _RUN_URI.match(model_uri):
        return None, None, match["run_id"]
    if _SCHEME.match(model_uri):
        raise BtcrlError(
            f"model URI {model_uri!r} is not supported: use models:/NAME@ALIAS, models:/NAME/V, "
            "runs:/ID/model or a local path"
        )
    return None, None, None


def _download(model_uri: str) -> Path:
    path = Path(model_uri)
    if not _SCHEME.match(model_uri):
        if not (path / "MLmodel").is_file():
            raise BtcrlError(
                f"model path {model_uri} is not an MLflow model directory (no MLmodel)"
            )
        return path
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        raise BtcrlError(f"cannot load model {model_uri}: {message}".splitlines()[0]) from None
