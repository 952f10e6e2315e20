"""Agents: SB3 PPO/SAC/TQC training on the batched env, tracked in MLflow; policy loading.

Heavy imports (torch, SB3, MLflow) happen on first use of a name below.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from btcrl.agents.model_io import register_model
    from btcrl.agents.policy import LoadedPolicy, load_policy
    from btcrl.agents.training import TrainResult, run_training

__all__ = ["LoadedPolicy", "TrainResult", "load_policy", "register_model", "run_training"]

_WHERE = {
    "LoadedPolicy": "btcrl.agents.policy",
    "load_policy": "btcrl.agents.policy",
    "register_model": "btcrl.agents.model_io",
    "TrainResult": "btcrl.agents.training",
    "run_training": "btcrl.agents.training",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'btcrl.agents' has no attribute {name!r}")
