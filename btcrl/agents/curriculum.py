"""Reward-weight curriculum: an SB3 callback that moves the shaping weights with progress.

The phases (``btcrl.config.train.CurriculumPhase``; ``train.curriculum``) cover training
progress 0..1; in each, a weight moves linearly from its start to its end value. Progress is
SB3's own, ``num_timesteps / total`` of the current ``learn`` call (the same progress that
drives learning-rate schedules), so a resumed run, whose ``num_timesteps`` continues from
its checkpoint, picks the curriculum up at the phase it had reached. Weights change between
rollouts only, in the batched training env's parameter vector; validation and backtests use
their own envs and score equity, so they never see them.
"""

import logging

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from btcrl.config.train import CURRICULUM_WEIGHTS, CurriculumPhase
from btcrl.env import BatchTradingEnv
from btcrl.errors import ConfigError

log = logging.getLogger(__name__)


def phase_at(phases: tuple[CurriculumPhase, ...], progress: float) -> CurriculumPhase:
    """The phase holding ``progress`` (fraction, clipped to [0, 1]; a boundary belongs to
    the phase it starts, 1.0 to the last)."""
    progress = min(1.0, max(0.0, progress))
    for phase in phases:
        if progress < phase.end:
            return phase
    return phases[-1]


def weights_at(phases: tuple[CurriculumPhase, ...], progress: float) -> dict[str, float]:
    """The weights the curriculum sets at ``progress``: linear inside the phase from its
    start to its end value. Weights the phase leaves out (null) are not in the result."""
    phase = phase_at(phases, progress)
    frac = (min(1.0, max(0.0, progress)) - phase.start) / (phase.end - phase.start)
    frac = min(1.0, max(0.0, frac))
    weights = {}
    for name in CURRICULUM_WEIGHTS:
        pair = getattr(phase, name)
        if pair is not None:
            weights[name] = pair[0] + (pair[1] - pair[0]) * frac
    return weights


def _batch_env(env: VecEnv) -> BatchTradingEnv:
    inner = env
    while not isinstance(inner, BatchTradingEnv) and hasattr(inner, "venv"):
        inner = inner.venv  # through VecEnv wrappers
    if not isinstance(inner, BatchTradingEnv):
        raise ConfigError(
            f"train.curriculum needs a BatchTradingEnv to train on, got {type(env).__name__}"
        )
    return inner


class CurriculumCallback(BaseCallback):
    """Before every rollout, set the curriculum's weights for the current progress on the
    training env and record them as ``curriculum/<weight>`` (and ``curriculum/phase``, the
    phase's index) in the SB3 logger, which btcrl sends to MLflow."""

    def __init__(self, phases: tuple[CurriculumPhase, ...]) -> None:
        super().__init__()
        if not phases:
            raise ConfigError("CurriculumCallback needs at least one phase")
        self.phases = phases
        self.weights: dict[str, float] = {}

    def progress(self) -> float:
        """``num_timesteps / total``, SB3's planned total of the current ``learn`` call (on
        resume: the checkpoint's steps plus the new budget)."""
        total = max(1, int(self.model._total_timesteps))
        return min(1.0, self.model.num_timesteps / total)

    def apply(self) -> dict[str, float]:
        """Set and record the weights for the current progress; returns them."""
        progress = self.progress()
        weights = weights_at(self.phases, progress)
        _batch_env(self.training_env).set_reward_weights(**weights)
        if weights != self.weights:
            log.debug("curriculum at %.3f: %s", progress, weights)
        self.weights = weights
        self.logger.record("curriculum/phase", self.phases.index(phase_at(self.phases, progress)))
        for name, value in weights.items():
            self.logger.record(f"curriculum/{name}", value)
        return weights

    def _on_training_start(self) -> None:
        self.apply()

    def _on_rollout_start(self) -> None:
        self.apply()

    def _on_step(self) -> bool:
        return True


def curriculum_callback(phases: tuple[CurriculumPhase, ...]) -> CurriculumCallback | None:
    """The callback for ``TrainConfig.curriculum_phases()``; None when the curriculum is off."""
    return CurriculumCallback(phases) if phases else None
