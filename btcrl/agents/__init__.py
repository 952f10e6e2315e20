"""Agents: SB3 PPO/SAC/TQC training on the batched env, tracked in MLflow.

Loading a trained policy is :func:`btcrl.policy.load_policy` (below agents and backtest).

Heavy imports (torch, SB3, MLflow) happen on first use of a name below.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from btcrl.agents.training import TrainResult, run_training

__all__ = ["TrainResult", "run_training"]

_WHERE = {
    "TrainResult": "btcrl.agents.training",
    "run_training": "btcrl.agents.training",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'btcrl.agents' has no attribute {name!r}")
