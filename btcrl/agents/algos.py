"""Models built from an AgentConfig (classes: btcrl.policy.algos): SB3 PPO / SAC and
sb3-contrib TQC on torch (``agent.backend: sb3``), or SBX SAC / TQC / CrossQ on JAX
(``agent.backend: sbx``). Both train on the same VecEnv with the same callbacks and save the
same zip format. An SBX model with a frozen pre-trained encoder keeps it inside its policy
(``btcrl.encoder.columns``)."""

import logging
from collections.abc import Mapping
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv

from btcrl.config import AgentConfig
from btcrl.encoder.columns import attach_encoder
from btcrl.encoder.model import MaskedEncoder
from btcrl.errors import ConfigError
from btcrl.policy.algos import algorithm_class

log = logging.getLogger(__name__)

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
_COMMON_FIELDS = ("algo", "device", "learning_rate", "gamma", "net_arch", "activation")
_PPO_FIELDS = (
    "n_steps",
    "batch_size",
    "n_epochs",
    "gae_lambda",
    "clip_range",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
)
_OFF_POLICY_FIELDS = (
    "buffer_size",
    "off_policy_batch_size",
    "learning_starts",
    "tau",
    "train_freq",
    "gradient_steps",
)


def agent_fields(algo: str) -> tuple[str, ...]:
    """The AgentConfig fields ``algo`` uses (what :func:`algorithm_kwargs` reads)."""
    if algo == "ppo":
        return (*_COMMON_FIELDS, *_PPO_FIELDS)
    extra = ("top_quantiles_to_drop_per_net",) if algo == "tqc" else ()
    skip = ("tau",) if algo == "crossq" else ()  # CrossQ has no target networks
    fields = tuple(f for f in _OFF_POLICY_FIELDS if f not in skip)
    return (*_COMMON_FIELDS, "backend", *fields, *extra)


def seed_training(seed: int, device: str) -> None:
    """Seed Python, NumPy and torch (SB3's ``set_random_seed``; CUDA too on a GPU device).
    With the same seed, torch threads (set by the entry point: ``btcrl.jobs.processes.
    set_torch_threads``), config and data, CPU training is bit-for-bit repeatable: SB3 draws
    every random number from these generators and the envs take ``seed + index``."""
    set_random_seed(seed, using_cuda=device.startswith("cuda"))


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return device


def algorithm_kwargs(config: AgentConfig, n_envs: int) -> dict[str, Any]:
    """Constructor keyword arguments for ``config.algo`` (fields it does not use are dropped).

    PPO's ``batch_size`` is capped at the rollout size ``n_steps x n_envs`` (a larger minibatch
    than the rollout is not possible).
    """
    policy_kwargs: dict[str, Any] = {
        "net_arch": list(config.net_arch),
        "activation_fn": _activation(config),
    }
    common: dict[str, Any] = {"learning_rate": config.learning_rate, "gamma": config.gamma}
    if config.algo == "ppo":
        rollout = config.n_steps * n_envs
        return {
            **common,
            "policy_kwargs": policy_kwargs,
            "n_steps": config.n_steps,
            "batch_size": min(config.batch_size, rollout),
            "n_epochs": config.n_epochs,
            "gae_lambda": config.gae_lambda,
            "clip_range": config.clip_range,
            "ent_coef": config.ent_coef,
            "vf_coef": config.vf_coef,
            "max_grad_norm": config.max_grad_norm,
        }
    off_policy: dict[str, Any] = {
        **common,
        "policy_kwargs": policy_kwargs,
        "buffer_size": config.buffer_size,
        "learning_starts": config.learning_starts,
        "batch_size": config.off_policy_batch_size,
        "train_freq": config.train_freq,
        "gradient_steps": config.gradient_steps,
    }
    if config.algo != "crossq":
        off_policy["tau"] = config.tau
    if config.algo == "tqc":
        off_policy["top_quantiles_to_drop_per_net"] = config.top_quantiles_to_drop_per_net
    return off_policy


def _activation(config: AgentConfig) -> Any:
    """The hidden-layer activation: a torch module class (sb3) or a JAX function (sbx)."""
    if config.backend == "sb3":
        return ACTIVATIONS[config.activation]
    import flax.linen as nn

    return {"tanh": nn.tanh, "relu": nn.relu}[config.activation]


def build_model(
    config: AgentConfig,
    env: VecEnv,
    seed: int,
    device: str,
    policy_kwargs: Mapping[str, Any] | None = None,
    encoder: MaskedEncoder | None = None,
) -> BaseAlgorithm:
    """A fresh, seeded model for ``config.algo`` on ``config.backend`` and ``env`` (an SB3
    VecEnv); ``policy_kwargs`` are added to the policy's (e.g. a features extractor).
    ``encoder`` (SBX only): the frozen encoder whose embeddings ``env`` observes as columns
    (``btcrl.encoder.columns``), kept inside the policy so that it is saved with it."""
    if encoder is not None and config.backend != "sbx":
        raise ConfigError("an encoder as observation columns is for agent.backend 'sbx'")
    cls = algorithm_class(config.algo, config.backend)
    kwargs = algorithm_kwargs(config, env.num_envs)
    log.info("building %s on %d envs, device %s: %s", config.algo, env.num_envs, device, kwargs)
    kwargs["policy_kwargs"].update(policy_kwargs or {})  # after the log: it holds weights
    model = cls("MlpPolicy", env, seed=seed, device=device, verbose=0, **kwargs)
    if encoder is not None:
        attach_encoder(model.policy, encoder)
    return model
