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
        with open(context.artifacts["config"]) as handle:  # noqa: PTH123
            agent = yaml.safe_load(handle)["agent"]
        backend = str(agent.get("backend", "sb3"))
        self.model = _algorithm_class(str(agent["algo"]), backend).load(
            context.artifacts["sb3_model"], device="cpu"
        )

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """float32 (N, obs_size) observations -> float32 (N, 2) deterministic actions."""
        obs = np.asarray(model_input, dtype=np.float32)
        if obs.ndim == 1:
            obs = obs[None, :]
        if getattr(self.model.policy, "btcrl_encoder", None) is not None:
            # an SBX policy reading a frozen encoder's embeddings (kept in its zip): btcrl
            # recomputes them from the windowed observation
            from btcrl.encoder.columns import embedded_observations

            obs = embedded_observations(self.model.policy, obs)
        actions, _ = self.model.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.float32).reshape(obs.shape[0], -1)


mlflow.models.set_model(BtcrlPolicyModel())
