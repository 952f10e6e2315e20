"""MLflow models-from-code definition of a btcrl policy (logged as the ``model`` artifact).

This file is copied into every logged model and executed on load, so it imports nothing from
btcrl: only MLflow, NumPy, stable-baselines3 and sb3-contrib (the pip requirements). The
model's artifacts are the SB3 zip (``sb3_model``), ``feature_spec.json`` and ``config.yaml``
(whose ``agent.algo`` and ``agent.backend`` name the algorithm). An SBX policy that reads a
frozen encoder keeps it in its zip and needs ``btcrl`` importable to embed the windows
(``btcrl.encoder.columns``), as an SB3 encoder policy needs it for its extractor class.

``predict`` takes float32 observations (N, obs_size) in FeatureSpec order and returns the
deterministic float32 actions (N, 2) = ``[a_pos, a_sl]`` in [-1, 1], exactly what
``model.predict(obs, deterministic=True)`` of the SB3 model returns.

A seed ensemble (``btcrl.policy.ensemble``) adds member k's zip and config as artifacts
``sb3_model_k`` and ``config_k`` (k = 1, 2, ...); its action is the mean of the members'
deterministic actions, summed in member order and divided by their count (float32).
"""

from typing import Any

import mlflow
import numpy as np
import yaml
from mlflow.pyfunc import PythonModel, PythonModelContext


def _algorithm_class(algo: str, backend: str = "sb3") -> Any:
    if backend == "sbx":  # SBX (JAX): sac | tqc | crossq
        import sbx

        return {"sac": sbx.SAC, "tqc": sbx.TQC, "crossq": sbx.CrossQ}[algo]
    if algo == "ppo":
        from stable_baselines3 import PPO

        return PPO
    if algo == "sac":
        from stable_baselines3 import SAC

        return SAC
    if algo == "tqc":
        from sb3_contrib import TQC

        return TQC
    raise ValueError(f"unknown algorithm {algo!r}")


class BtcrlPolicyModel(PythonModel):
    """Deterministic actions of a trained SB3 policy, on CPU."""

    # the input schema is the logged float32 tensor signature, not predict's type hints
    # (MLflow's hook for this; without it every load warns about missing type hints)
    _skip_type_hint_validation = True

    def load_context(self, context: PythonModelContext) -> None:
        artifacts = context.artifacts
        self.models = [_load(artifacts["sb3_model"], artifacts["config"])]
        k = 1
        while f"sb3_model_{k}" in artifacts:  # a seed ensemble's further members
            self.models.append(_load(artifacts[f"sb3_model_{k}"], artifacts[f"config_{k}"]))
            k += 1
        self.model = self.models[0]

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """float32 (N, obs_size) observations -> float32 (N, 2) deterministic actions (an
        ensemble's: the mean of its members')."""
        obs = np.asarray(model_input, dtype=np.float32)
        if obs.ndim == 1:
            obs = obs[None, :]
        total = None
        for model in self.models:
            actions, _ = model.predict(_inputs(model, obs), deterministic=True)
            actions = np.asarray(actions, dtype=np.float32).reshape(obs.shape[0], -1)
            total = actions.copy() if total is None else total + actions
        if len(self.models) > 1:
            total = total / np.float32(len(self.models))
        return total


def _inputs(model: Any, obs: np.ndarray) -> np.ndarray:
    """``obs`` as ``model`` reads it: an SBX policy reading a frozen encoder's embeddings (the
    encoder is kept in its zip) gets them recomputed from the windowed observation by btcrl."""
    if getattr(model.policy, "btcrl_encoder", None) is None:
        return obs
    from btcrl.encoder.columns import embedded_observations

    return embedded_observations(model.policy, obs)


def _load(model_path: str, config_path: str) -> Any:
    """The SB3 / SBX model at ``model_path`` on the CPU, its class from its config."""
    with open(config_path) as handle:  # noqa: PTH123
        agent = yaml.safe_load(handle)["agent"]
    backend = str(agent.get("backend", "sb3"))
    return _algorithm_class(str(agent["algo"]), backend).load(model_path, device="cpu")


mlflow.models.set_model(BtcrlPolicyModel())
