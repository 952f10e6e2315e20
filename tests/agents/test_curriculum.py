"""The reward-weight curriculum: weights by hand at given progress, the callback on a real
PPO + BatchTradingEnv, and the phase a resumed learn() continues at."""

from typing import Any

import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.logger import KVWriter, Logger

from btcrl.agents.curriculum import CurriculumCallback, curriculum_callback, phase_at, weights_at
from btcrl.config.env import EnvConfig
from btcrl.config.train import THREE_PHASE, CurriculumPhase, TrainConfig
from btcrl.env import BatchTradingEnv
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet


@pytest.mark.parametrize(
    ("progress", "phase", "churn", "smooth"),
    [
        (0.0, "discovery", 0.0, 0.0),
        (0.1, "discovery", 0.05, 0.0),  # halfway through 0 -> 0.10
        (0.2, "discipline", 0.10, 0.0),
        (0.4, "discipline", 0.30, 0.01),  # halfway: 0.10 -> 0.50, 0 -> 0.02
        (0.5, "discipline", 0.40, 0.015),
        (0.6, "consolidation", 0.50, 0.02),
        (0.9, "consolidation", 0.50, 0.02),
        (1.0, "consolidation", 0.50, 0.02),
        (1.7, "consolidation", 0.50, 0.02),  # clipped
    ],
)
def test_three_phase_weights_by_hand(
    progress: float, phase: str, churn: float, smooth: float
) -> None:
    assert phase_at(THREE_PHASE, progress).name == phase
    weights = weights_at(THREE_PHASE, progress)
    assert weights == {
        "churn_penalty": pytest.approx(churn),
        "smooth_penalty": pytest.approx(smooth),
    }


def test_left_out_weights_are_not_set_and_config_presets() -> None:
    phases = (CurriculumPhase(name="only", start=0.0, end=1.0, drawdown_penalty=(1.0, 0.0)),)
    assert weights_at(phases, 0.25) == {"drawdown_penalty": pytest.approx(0.75)}
    assert TrainConfig(curriculum="off").curriculum_phases() == ()
    assert curriculum_callback(TrainConfig(curriculum="off").curriculum_phases()) is None
    assert TrainConfig().curriculum == "three_phase"  # the shipped default (docs/training.md)
    assert TrainConfig(curriculum="three_phase").curriculum_phases() == THREE_PHASE
    assert TrainConfig(curriculum=False).curriculum == "off"  # YAML's bare `off`
    with pytest.raises(ValueError, match="starts at 0.5, expected 0.2"):
        TrainConfig(
            curriculum=[
                {"name": "a", "start": 0, "end": 0.2},
                {"name": "b", "start": 0.5, "end": 1},
            ]
        )


class _Capture(KVWriter):
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        self.rows.append({k: v for k, v in key_values.items() if k.startswith("curriculum/")})


def _ppo(features: FeatureSet) -> tuple[PPO, BatchTradingEnv, _Capture]:
    env = BatchTradingEnv(features, EnvConfig(episode_length=64), 4, seed=0)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    capture = _Capture()
    model.set_logger(Logger(None, [capture]))
    return model, env, capture


def test_callback_sets_the_env_weights_between_rollouts(sine_features: FeatureSet) -> None:
    model, env, capture = _ppo(sine_features)
    seen: list[tuple[int, dict[str, float]]] = []
    callback = CurriculumCallback(THREE_PHASE)
    original = callback.apply

    def spy() -> dict[str, float]:
        weights = original()
        seen.append((model.num_timesteps, env.reward_weights()))
        return weights

    callback.apply = spy  # type: ignore[method-assign]
    model.learn(640, callback=callback, log_interval=1)  # 10 rollouts of 64 env-steps
    assert [steps for steps, _ in seen] == [0, *range(0, 640, 64)]
    for steps, weights in seen:
        expected = weights_at(THREE_PHASE, steps / 640)
        assert weights["churn_penalty"] == pytest.approx(expected["churn_penalty"])
        assert weights["smooth_penalty"] == pytest.approx(expected["smooth_penalty"])
        assert weights["drawdown_penalty"] == 0.0
    logged = [row for row in capture.rows if row]
    assert logged and set(logged[-1]) == {
        "curriculum/phase", "curriculum/churn_penalty", "curriculum/smooth_penalty",
    }  # fmt: skip
    assert logged[-1]["curriculum/phase"] == 2  # 576 / 640 = 0.9: consolidation


class _StartProgress(CurriculumCallback):
    """Records the progress the curriculum starts a learn() call at."""

    def _on_training_start(self) -> None:
        self.start = self.progress()
        super()._on_training_start()


def test_resumed_learn_continues_at_the_reached_phase(sine_features: FeatureSet) -> None:
    model, env, _ = _ppo(sine_features)
    model.learn(320, callback=CurriculumCallback(THREE_PHASE))
    # a resumed run: 320 more steps on top of the checkpoint's 320 -> starts at progress 0.5
    callback = _StartProgress(THREE_PHASE)
    model.learn(320, callback=callback, reset_num_timesteps=False)
    assert callback.start == 0.5
    assert env.reward_weights()["churn_penalty"] == pytest.approx(0.5)  # ends consolidated
    assert model.num_timesteps == 640


def test_callback_needs_a_batch_env(sine_features: FeatureSet) -> None:
    with pytest.raises(ConfigError, match="at least one phase"):
        CurriculumCallback(())
    env = BatchTradingEnv(sine_features, EnvConfig(), 2)
    with pytest.raises(ConfigError, match="'nope' is unknown"):
        env.set_reward_weights(nope=1.0)
    with pytest.raises(ConfigError, match="must be >= 0"):
        env.set_reward_weights(churn_penalty=-1.0)
