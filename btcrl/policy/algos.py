"""The algorithm classes by backend and name, and loading a saved model.

``sb3``: stable-baselines3 PPO / SAC and sb3-contrib TQC (torch). ``sbx``: SBX's SAC, TQC and
CrossQ (JAX; imported only when asked for, so a torch-only command never imports JAX). Both
save the same zip format (SB3's ``save``); a saved zip names its policy class, so
:func:`load_model` reads which backend wrote it from the file itself.
"""

import json
import zipfile
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from btcrl.errors import ConfigError

BACKENDS = ("sb3", "sbx")
#: backend -> algo -> "module:Class"
ALGORITHMS: dict[str, dict[str, str]] = {
    "sb3": {
        "ppo": "stable_baselines3:PPO",
        "sac": "stable_baselines3:SAC",
        "tqc": "sb3_contrib:TQC",
    },
    "sbx": {"sac": "sbx:SAC", "tqc": "sbx:TQC", "crossq": "sbx:CrossQ"},
}


def algorithm_class(algo: str, backend: str = "sb3") -> type[BaseAlgorithm]:
    """The class of ``algo`` on ``backend`` (sb3: ppo | sac | tqc; sbx: sac | tqc | crossq)."""
    known = ALGORITHMS.get(backend)
    if known is None:
        raise ConfigError(f"backend {backend!r} is unknown: use one of {list(BACKENDS)}")
    if algo not in known:
        raise ConfigError(
            f"algorithm {algo!r} is unknown on backend {backend!r}: use one of {sorted(known)}"
        )
    module, name = known[algo].split(":")
    cls: type[BaseAlgorithm] = getattr(__import__(module, fromlist=[name]), name)
    return cls


def saved_backend(path: Path) -> str:
    """``sbx`` when the SB3-format zip at ``path`` holds an SBX policy, else ``sb3``."""
    with zipfile.ZipFile(path) as archive:
        data: dict[str, Any] = json.loads(archive.read("data"))
    policy_class = data.get("policy_class") or {}
    module = str(policy_class.get("__module__", "")) if isinstance(policy_class, dict) else ""
    return "sbx" if module.split(".")[0] == "sbx" else "sb3"


def load_model(algo: str, path: Path, env: VecEnv | None, device: str) -> BaseAlgorithm:
    """Load a zip saved by ``model.save`` (either backend; ``env`` may be None for inference)."""
    backend = saved_backend(Path(path))
    return algorithm_class(algo, backend).load(str(path), env=env, device=device)
