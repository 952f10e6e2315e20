"""Load a trained policy by model URI for backtests and serving: ``load_policy``."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.config import ExperimentConfig, build_config
from btcrl.env.params import observation_size
from btcrl.errors import CompatibilityError
from btcrl.features.spec import FeatureSpec
from btcrl.policy.act import ActFn, deterministic_act
from btcrl.policy.algos import load_model
from btcrl.policy.ensemble import MEMBER_CONFIG, MEMBER_MODEL, LoadedEnsemble, ensemble_of
from btcrl.tracking.models import download_policy_model, resolve_model_uri

log = logging.getLogger(__name__)


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
        size = observation_size(self.spec, self.config.env.window)
        if obs.ndim != 2 or obs.shape[1] != size:
            raise CompatibilityError(
                f"observation shape {obs.shape} does not fit model {self.model_uri}: "
                f"expected (N, {size})"
            )
        if self._act is None:
            self._act = deterministic_act(self.model)
        return np.asarray(self._act(obs), dtype=np.float32).reshape(obs.shape[0], -1)


def load_policy(model_uri: str) -> "LoadedPolicy | LoadedEnsemble":
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/V``, ``runs:/ID/model`` or a local model
    directory (one holding ``MLmodel``) onto the CPU; a seed ensemble's model (member
    artifacts ``sb3_model_1``, ...) loads as a ``LoadedEnsemble``. Raises BtcrlError naming
    the URI."""
    name, model_version, run_id = resolve_model_uri(model_uri)
    files, logged_by = download_policy_model(model_uri)
    run_id = run_id or logged_by
    spec = FeatureSpec.from_json(files["feature_spec"].read_text())
    names = {"source_run_id": run_id, "model_name": name, "model_version": model_version}
    members = [_member(files["sb3_model"], files["config"], spec, model_uri)]
    k = 1
    while MEMBER_MODEL.format(k) in files:
        model_file, config_file = files[MEMBER_MODEL.format(k)], files[MEMBER_CONFIG.format(k)]
        members.append(_member(model_file, config_file, spec, f"{model_uri} member {k}"))
        k += 1
    if len(members) > 1:
        log.info("loaded %s: an ensemble of %d members (run %s)", model_uri, k, run_id)
        return ensemble_of(members, model_uri, **names)
    log.info("loaded %s (%s, run %s)", model_uri, members[0].config.agent.algo, run_id)
    member = members[0]
    return LoadedPolicy(member.model, spec, member.config, model_uri, **names)


def _member(model_file: Path, config_file: Path, spec: FeatureSpec, uri: str) -> LoadedPolicy:
    """One policy of a model's files (its SB3 zip and config) onto the CPU."""
    config = build_config(yaml.safe_load(config_file.read_text()) or {})
    model = load_model(config.agent.algo, model_file, env=None, device="cpu")
    return LoadedPolicy(model=model, spec=spec, config=config, model_uri=uri)
