"""Reads the deterministic actor of an SB3 policy into a ``btcrl.env.mlp.MlpActor``.

``mlp_from_policy`` reads the weights of an SB3 policy whose deterministic action is an MLP
over the raw observation (PPO ``ActorCriticPolicy`` with a Gaussian head, SAC / TQC actors
without gSDE) into an ``MlpActor``; anything else (gSDE, CNN or custom extractors, other
activations, dropout, normalisation layers) gives None and callers keep the torch path.

Nothing here imports torch or stable-baselines3 at module import time: torch is imported
only inside ``mlp_from_policy``, to recognise the layers.
"""

from typing import Any

import numpy as np

from btcrl.env.mlp import IDENTITY, RELU, TANH, MlpActor
from btcrl.policy.sbx_mlp import is_sbx_policy, mlp_from_sbx_policy

ACTIVATION_NAMES = {"Tanh": TANH, "ReLU": RELU}


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
    if is_sbx_policy(policy):  # JAX: its flax parameters (btcrl.policy.sbx_mlp)
        return mlp_from_sbx_policy(policy) if extractor == "FlattenExtractor" else None
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
