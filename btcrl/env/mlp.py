"""A deterministic MLP actor as plain float32 arrays, for the compiled episode runner.

``mlp_from_policy`` reads the weights of an SB3 policy whose deterministic action is an MLP
over the raw observation (PPO ``ActorCriticPolicy`` with a Gaussian head, SAC / TQC actors
without gSDE) into an ``MlpActor``; anything else (gSDE, CNN or custom extractors, other
activations, dropout, normalisation layers) gives None and callers keep the torch path.

The deterministic action, as SB3's ``predict(obs, deterministic=True)`` computes it:

- PPO: ``clip(action_net(policy_net(obs)), low, high)``;
- SAC / TQC: ``low + 0.5 x (tanh(mu(latent_pi(obs))) + 1) x (high - low)``.

``MlpActor.forward`` is the float32 numpy reference of that computation; the compiled kernel
(``btcrl.env.policy_episode``) runs the same layers in the same order (with a rational tanh
in the hidden layers). Neither is bit-equal to torch (summation order differs), but both
agree with it to about 1e-6.

SBX policies (JAX; ``agent.backend: sbx``) are read from their flax parameters: SAC / TQC
actors are ``Dense`` layers with the activation, a ``mean`` head and a ``log_std`` head whose
deterministic action is ``tanh(mean)`` rescaled, as above; CrossQ's actor adds batch
renormalisation layers, which in inference are affine maps with their running statistics,
``y = (x - mean) / sqrt(var + eps) x scale + bias``, folded here into the next dense layer.

Nothing here imports torch, stable-baselines3 or JAX at module import time: torch is imported
only inside ``mlp_from_policy`` for an SB3 policy, to recognise the layers.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

IDENTITY, TANH, RELU = 0, 1, 2  # activation ids after a layer
ACTIVATION_NAMES = {"Tanh": TANH, "ReLU": RELU}


@dataclass(frozen=True)
class MlpActor:
    """Dense layers ``x <- act_k(W_k x + b_k)`` and the action head.

    ``weights[k]`` float32 (out, in), ``biases[k]`` float32 (out,), ``activations[k]`` one of
    IDENTITY / TANH / RELU applied after layer k (the last layer is the action head and is
    IDENTITY). ``squashed``: tanh then rescale into [low, high] (SAC, TQC); else clipped to
    [low, high] (PPO). ``low`` / ``high`` float32 (action_dim,).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[int, ...]
    squashed: bool
    low: np.ndarray
    high: np.ndarray

    @property
    def obs_size(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def action_size(self) -> int:
        return int(self.weights[-1].shape[0])

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions float32 (N, action_size) for observations float32 (N, obs)."""
        x = np.asarray(obs, dtype=np.float32)
        for w, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            x = x @ w.T + b
            if act == TANH:
                x = np.tanh(x)
            elif act == RELU:
                x = np.maximum(x, np.float32(0.0))
        if self.squashed:
            x = np.tanh(x)
            return self.low + np.float32(0.5) * (x + np.float32(1.0)) * (self.high - self.low)
        return np.clip(x, self.low, self.high)

    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat float32 weights and biases, int64 layer widths (n_layers + 1,), int64
        activations (n_layers,)) as the compiled kernel reads them: for each layer its W
        transposed, (in, out) row-major, then b."""
        parts = [
            p for w, b in zip(self.weights, self.biases, strict=True) for p in (w.T.ravel(), b)
        ]
        flat = np.concatenate(parts).astype(np.float32)
        widths = np.array([self.obs_size, *(w.shape[0] for w in self.weights)], dtype=np.int64)
        return flat, widths, np.array(self.activations, dtype=np.int64)


def _dense_stack(
    modules: list[Any],
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]] | None:
    """Linear (+ Tanh | ReLU) layers of a module sequence, or None for anything else."""
    import torch

    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    activations: list[int] = []
    for module in modules:
        name = type(module).__name__
        if isinstance(module, torch.nn.Linear):
            weight = module.weight.detach().cpu().numpy().astype(np.float32)
            bias = module.bias
            weights.append(np.ascontiguousarray(weight))
            biases.append(
                np.zeros(weight.shape[0], np.float32)
                if bias is None
                else bias.detach().cpu().numpy().astype(np.float32)
            )
            activations.append(IDENTITY)
        elif name in ACTIVATION_NAMES and type(module).__module__.startswith("torch.nn"):
            if not activations or activations[-1] != IDENTITY:
                return None  # an activation before any layer, or two in a row
            activations[-1] = ACTIVATION_NAMES[name]
        else:
            return None
    return weights, biases, activations


def _flat_extractor(extractor: Any, obs_size: int, kind: str) -> bool:
    """True when the features extractor is of class ``kind`` and, for ``FlattenExtractor``,
    passes a flat observation through unchanged."""
    if type(extractor).__name__ != kind:
        return False
    return kind != "FlattenExtractor" or getattr(extractor, "features_dim", None) == obs_size


def _ppo_parts(policy: Any, obs_size: int, kind: str) -> tuple[list[Any], bool] | None:
    from stable_baselines3.common.distributions import DiagGaussianDistribution

    if not isinstance(policy.action_dist, DiagGaussianDistribution) or policy.squash_output:
        return None  # gSDE, or another distribution
    if not _flat_extractor(policy.pi_features_extractor, obs_size, kind):
        return None
    return [*policy.mlp_extractor.policy_net, policy.action_net], False


def _squashed_parts(actor: Any, obs_size: int, kind: str) -> tuple[list[Any], bool] | None:
    if getattr(actor, "use_sde", True):
        return None  # gSDE: the deterministic action is not the plain mean
    if not _flat_extractor(actor.features_extractor, obs_size, kind):
        return None
    return [*actor.latent_pi, actor.mu], True


def mlp_from_policy(policy: Any, extractor: str = "FlattenExtractor") -> MlpActor | None:
    """The deterministic actor of an SB3 policy as an ``MlpActor``, or None when it is not an
    MLP over the flat, raw observation (see the module docstring). ``extractor``: the
    features extractor class the policy must have; another than ``FlattenExtractor`` (the
    encoder's) gives the MLP head over the extractor's output (``features_dim`` inputs)."""
    if type(policy).__module__.split(".")[0] == "sbx":
        return _from_sbx(policy) if extractor == "FlattenExtractor" else None
    from stable_baselines3.common.policies import ActorCriticPolicy

    obs_space = getattr(policy, "observation_space", None)
    act_space: Any = getattr(policy, "action_space", None)
    obs_shape = getattr(obs_space, "shape", None)
    if obs_shape is None or len(obs_shape) != 1 or getattr(act_space, "low", None) is None:
        return None
    obs_size = int(obs_shape[0])
    head: Any
    if isinstance(policy, ActorCriticPolicy):
        parts = _ppo_parts(policy, obs_size, extractor)
        head = policy.pi_features_extractor
    else:
        actor = getattr(policy, "actor", None)
        has_parts = actor is not None and all(
            hasattr(actor, a) for a in ("latent_pi", "mu", "features_extractor")
        )
        parts = _squashed_parts(actor, obs_size, extractor) if has_parts else None
        head = getattr(actor, "features_extractor", None)
    if parts is None:
        return None
    obs_size = int(getattr(head, "features_dim", obs_size))  # the MLP's input
    modules, squashed = parts
    stack = _dense_stack(modules)
    if stack is None:
        return None
    weights, biases, activations = stack
    if activations[-1] != IDENTITY or weights[0].shape[1] != obs_size:
        return None
    if any(a.shape[1] != b.shape[0] for a, b in zip(weights[1:], weights[:-1], strict=True)):
        return None
    low = np.asarray(act_space.low, dtype=np.float32)
    high = np.asarray(act_space.high, dtype=np.float32)
    if low.shape != (weights[-1].shape[0],):
        return None
    return MlpActor(tuple(weights), tuple(biases), tuple(activations), squashed, low, high)


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


def _from_sbx(policy: Any) -> MlpActor | None:
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
