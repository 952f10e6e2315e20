"""A lean path to a trained SB3 policy's deterministic action, one observation at a time.

``BaseAlgorithm.predict`` spends about 200 us per call on checks, tensor conversion and
distribution objects; a backtest calls it once per bar. This module runs the *same* torch
modules the policy's own deterministic ``_predict`` runs (features extractor -> actor
network -> mean, tanh for squashed actors, then the same clip / unscale), so the actions
are bit-identical; :func:`fast_predict` proves that on sample observations before it is used
and returns None (use ``predict``) for any policy it does not recognise or that disagrees.
"""

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]
CHECK_ROWS = 32


def _forward(policy: object) -> tuple[Callable, bool] | None:
    """(obs tensor -> raw action tensor, squashed?) for the deterministic action, or None."""
    from stable_baselines3.common.distributions import DiagGaussianDistribution
    from stable_baselines3.common.policies import ActorCriticPolicy

    if isinstance(policy, ActorCriticPolicy):
        if not isinstance(policy.action_dist, DiagGaussianDistribution) or policy.squash_output:
            return None

        def actor_critic(obs):  # type: ignore[no-untyped-def]
            features = policy.extract_features(obs, policy.pi_features_extractor)
            return policy.action_net(policy.mlp_extractor.forward_actor(features))

        return actor_critic, False
    actor = getattr(policy, "actor", None)
    if actor is not None and all(
        hasattr(actor, a) for a in ("latent_pi", "mu", "features_extractor")
    ):
        if getattr(actor, "use_sde", False):
            return None
        import torch

        def squashed(obs):  # type: ignore[no-untyped-def]
            features = actor.extract_features(obs, actor.features_extractor)
            return torch.tanh(actor.mu(actor.latent_pi(features)))

        return squashed, True
    return None


def fast_predict(model: object, observation_size: int, seed: int = 0) -> Predict | None:
    """A ``predict(obs float32 (1, obs_size)) -> float32 (1, 2)`` equal to
    ``model.predict(obs, deterministic=True)``, or None when that cannot be guaranteed."""
    try:
        import torch
    except ImportError:  # pragma: no cover - SB3 needs torch
        return None
    policy = getattr(model, "policy", None)
    found = _forward(policy) if policy is not None else None
    if found is None:
        return None
    forward, squashed = found
    space = policy.action_space  # type: ignore[union-attr]
    low, high = space.low, space.high

    def predict(obs: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
        with torch.no_grad():
            raw = forward(tensor).numpy()
        if squashed:
            return low + 0.5 * (raw + 1.0) * (high - low)
        return np.clip(raw, low, high)

    rng = np.random.default_rng(seed)
    sample = rng.normal(0.0, 1.0, (CHECK_ROWS, observation_size)).astype(np.float32)
    try:
        policy.set_training_mode(False)  # type: ignore[union-attr]
        for row in sample:
            ours = predict(row[None, :])
            theirs, _ = model.predict(row[None, :], deterministic=True)  # type: ignore[attr-defined]
            if not np.array_equal(np.asarray(ours, np.float32), np.asarray(theirs, np.float32)):
                log.info("fast policy path disagrees with predict(); using predict()")
                return None
    except Exception as exc:  # any surprise: fall back on the library's own path
        log.info("fast policy path unavailable (%s); using predict()", exc)
        return None
    return predict
