"""Reads the deterministic actor of an SBX policy (JAX; ``agent.backend: sbx``) into a
``btcrl.env.mlp.MlpActor``, from its flax parameters.

SAC / TQC actors are ``Dense`` layers with the activation, a ``mean`` head and a ``log_std``
head whose deterministic action is ``low + 0.5 x (tanh(mean) + 1) x (high - low)`` (SBX's
``predict``). CrossQ's actor adds batch renormalisation layers, which in inference are affine
maps with their running statistics, ``y = (x - mean) / sqrt(var + eps) x scale + bias``,
folded here into the next dense layer. Anything else (gSDE, Simba blocks, another
activation) gives None and callers keep SBX's own ``predict``. Nothing here imports JAX at
module import time.
"""

from typing import Any

import numpy as np

from btcrl.env.mlp import IDENTITY, RELU, TANH, MlpActor


def is_sbx_policy(policy: Any) -> bool:
    """True for a policy object of SBX (JAX)."""
    return type(policy).__module__.split(".")[0] == "sbx"


#: JAX activation function names (SBX's ``activation_fn``) -> activation ids
JAX_ACTIVATIONS = {"tanh": TANH, "relu": RELU}


def _as_numpy(tree: Any) -> Any:
    """A nested mapping of (JAX) arrays as nested dicts of float64 NumPy arrays."""
    if hasattr(tree, "items"):
        return {str(k): _as_numpy(v) for k, v in tree.items()}
    return np.asarray(tree, dtype=np.float64)


def _numbered(params: dict[str, Any], kind: str) -> list[str]:
    """Flax's automatic names ``<kind>_0, <kind>_1, ...`` of ``params`` in creation order."""
    names = [k for k in params if k.startswith(f"{kind}_") and k[len(kind) + 1 :].isdigit()]
    return sorted(names, key=lambda k: int(k[len(kind) + 1 :]))


def _renorm_affine(
    params: dict[str, Any], stats: dict[str, Any], epsilon: float
) -> tuple[np.ndarray, np.ndarray]:
    """(a, c) with ``y = a x + c``: batch renormalisation with its running statistics."""
    scale = params.get("scale", np.ones_like(stats["mean"]))
    a = scale / np.sqrt(stats["var"] + epsilon)
    return a, params.get("bias", np.zeros_like(a)) - stats["mean"] * a


def mlp_from_sbx_policy(policy: Any) -> MlpActor | None:
    """The deterministic actor of an SBX SAC / TQC / CrossQ policy (module docstring), or None
    for another actor (gSDE, Simba blocks, a non-flat observation, an unknown activation)."""
    state = getattr(policy, "actor_state", None)
    act_space: Any = getattr(policy, "action_space", None)
    obs_shape = getattr(getattr(policy, "observation_space", None), "shape", None)
    fn_name = getattr(getattr(policy, "activation_fn", None), "__name__", "")
    activation = JAX_ACTIVATIONS.get(fn_name)
    if state is None or getattr(policy, "use_sde", False) or activation is None:
        return None
    if obs_shape is None or len(obs_shape) != 1 or getattr(act_space, "low", None) is None:
        return None
    params = _as_numpy(state.params)
    params = params.get("params", params)  # SAC / TQC keep flax's {"params": ...}
    stats = _as_numpy(getattr(state, "batch_stats", None) or {})
    dense, norms = _numbered(params, "Dense"), _numbered(params, "BatchRenorm")
    n_hidden = len(dense) - 2  # the last two are the mean and log_std heads
    if n_hidden < 0 or set(params) != {*dense, *norms}:
        return None
    if not getattr(policy, "batch_norm_actor", bool(norms)):
        norms = []  # a CrossQ actor without batch norm keeps one unused layer
    if norms and len(norms) != n_hidden + 1:
        return None
    from sbx.common.jax_layers import BatchRenorm

    weights, biases = [], []
    for k in range(n_hidden + 1):  # the hidden layers, then the mean head
        w, b = params[dense[k]]["kernel"].T, params[dense[k]]["bias"]
        if norms:  # dense(renorm(x)) = (W a) x + (W c + b)
            a, c = _renorm_affine(params[norms[k]], stats[norms[k]], float(BatchRenorm.epsilon))
            w, b = w * a[None, :], b + w @ c
        weights.append(np.ascontiguousarray(w, dtype=np.float32))
        biases.append(np.asarray(b, dtype=np.float32))
    if weights[0].shape[1] != int(obs_shape[0]):
        return None
    low = np.asarray(act_space.low, dtype=np.float32)
    high = np.asarray(act_space.high, dtype=np.float32)
    if low.shape != (weights[-1].shape[0],):
        return None
    activations = (*([activation] * n_hidden), IDENTITY)
    return MlpActor(tuple(weights), tuple(biases), activations, True, low, high)
