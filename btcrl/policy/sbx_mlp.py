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


#: probe inputs and what each activation gives on them (an unpickled JAX function has no name)
_PROBE = np.array([-2.0, -0.5, 0.0, 0.25, 3.0], dtype=np.float32)
_PROBED = {TANH: np.tanh(_PROBE), RELU: np.maximum(_PROBE, 0.0)}


def _activation_id(fn: Any) -> int | None:
    """The activation id of SBX's ``activation_fn``: by its name, or, for a function that lost
    it (a policy loaded from a zip holds an unpickled ``PjitFunction``), by its values on a few
    probe inputs; None for any other function."""
    if fn is None:
        return None
    by_name = JAX_ACTIVATIONS.get(getattr(fn, "__name__", ""))
    if by_name is not None:
        return by_name
    try:
        values = np.asarray(fn(_PROBE), dtype=np.float32)
    except (TypeError, ValueError):  # not a function of an array: not an MLP we know
        return None
    for ident, expected in _PROBED.items():
        if values.shape == expected.shape and np.allclose(values, expected, atol=1e-6):
            return ident
    return None


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
    activation = _activation_id(getattr(policy, "activation_fn", None))
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
