"""``deterministic_act``: a trained SB3 policy as a plain function of observations."""

from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm

#: obs float32 (N, obs_size) -> actions float32 (N, 2)
ActFn = Callable[[np.ndarray], np.ndarray]


def deterministic_act(model: BaseAlgorithm) -> ActFn:
    """``model.predict(obs, deterministic=True)`` without its per-call overhead (about 2x
    faster for one observation at a time); the same operations, so the same actions."""
    policy = model.policy
    space = policy.action_space
    if not isinstance(space, spaces.Box):
        raise TypeError(f"btcrl policies act in a Box space, not {space}")

    def act(obs: np.ndarray) -> np.ndarray:
        policy.set_training_mode(False)
        with torch.no_grad():
            tensor = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=policy.device)
            actions = policy._predict(tensor, deterministic=True).cpu().numpy()
        actions = actions.reshape((-1, *space.shape))
        if policy.squash_output:
            return policy.unscale_action(actions)
        return np.clip(actions, space.low, space.high)

    return act
