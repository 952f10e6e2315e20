"""The SB3 algorithm classes by name (PPO, SAC, sb3-contrib TQC) and loading a saved one."""

from pathlib import Path

from sb3_contrib import TQC
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from btcrl.errors import ConfigError

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "tqc": TQC}


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``algo`` (ppo | sac | tqc)."""
    try:
        return ALGORITHMS[algo]
    except KeyError:
        raise ConfigError(
            f"algorithm {algo!r} is unknown: use one of {sorted(ALGORITHMS)}"
        ) from None


def load_model(algo: str, path: Path, env: VecEnv | None, device: str) -> BaseAlgorithm:
    """Load an SB3 zip saved by ``model.save`` (``env`` may be None for inference)."""
    return algorithm_class(algo).load(str(path), env=env, device=device)
