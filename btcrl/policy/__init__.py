"""A trained policy, below both ``agents`` (which trains it) and ``backtest`` (which trades
it): the SB3 algorithm classes, the fast deterministic act function and ``load_policy``.

Heavy imports (torch, SB3, MLflow) happen on first use of a name below.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from btcrl.policy.act import ActFn, deterministic_act
    from btcrl.policy.algos import algorithm_class, load_model
    from btcrl.policy.loader import LoadedPolicy, load_policy

__all__ = [
    "ActFn",
    "LoadedPolicy",
    "algorithm_class",
    "deterministic_act",
    "load_model",
    "load_policy",
]

_WHERE = {
    "ActFn": "btcrl.policy.act",
    "deterministic_act": "btcrl.policy.act",
    "algorithm_class": "btcrl.policy.algos",
    "load_model": "btcrl.policy.algos",
    "LoadedPolicy": "btcrl.policy.loader",
    "load_policy": "btcrl.policy.loader",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'btcrl.policy' has no attribute {name!r}")
