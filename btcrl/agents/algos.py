"""SB3 PPO / SAC and sb3-contrib TQC built from an AgentConfig, saved and loaded by name."""

import logging
from pathlib import Path
from typing import Any

import torch
from sb3_contrib import TQC
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from btcrl.config import AgentConfig
from btcrl.errors import ConfigError

log = logging.getLogger(__name__)

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "tqc": TQC}
ACTIVATIONS: dict[str, type[torch.nn.Module]] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``algo`` (ppo | sac | tqc)."""
    try:
        return ALGORITHMS[algo]
    except KeyError:
        raise ConfigError(
            f"algorithm {algo!r} is unknown: use one of {sorted(ALGORITHMS)}"
        ) from None


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
        "activation_fn": ACTIVATIONS[config.activation],
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
        "tau": config.tau,
        "train_freq": config.train_freq,
        "gradient_steps": config.gradient_steps,
    }
    if config.algo == "tqc":
        off_policy["top_quantiles_to_drop_per_net"] = config.top_quantiles_to_drop_per_net
    return off_policy


def build_model(config: AgentConfig, env: VecEnv, seed: int, device: str) -> BaseAlgorithm:
    """A fresh, seeded SB3 model for ``config.algo`` on ``env`` (an SB3 VecEnv)."""
    cls = algorithm_class(config.algo)
    kwargs = algorithm_kwargs(config, env.num_envs)
    log.info("building %s on %d envs, device %s: %s", config.algo, env.num_envs, device, kwargs)
    return cls("MlpPolicy", env, seed=seed, device=device, verbose=0, **kwargs)


def load_model(algo: str, path: Path, env: VecEnv | None, device: str) -> BaseAlgorithm:
    """Load an SB3 zip saved by :func:`save_model` (``env`` may be None for inference)."""
    cls = algorithm_class(algo)
    return cls.load(str(path), env=env, device=device)
