"""Curves with points: by default a run validates about ten times, at whole rollouts, and a
budget that is not whole rollouts is rounded up once, said in one warning."""

import logging

import pytest
from mlflow.tracking import MlflowClient

from btcrl.agents import run_training
from btcrl.config import TrainConfig
from btcrl.config.train import trained_timesteps, validation_interval
from btcrl.features.spec import FeatureSet


def test_auto_interval_is_whole_rollouts_about_ten_per_run() -> None:
    train = TrainConfig(total_timesteps=200_000)  # default eval_every: 0 = auto
    assert validation_interval(train, 16_384) == 16_384  # 13 rollouts: one each
    assert validation_interval(TrainConfig(total_timesteps=2_000_000), 16_384) == 12 * 16_384
    assert validation_interval(TrainConfig(eval_every=5000), 16_384) == 5000  # as asked
    assert trained_timesteps(TrainConfig(total_timesteps=20_000), 16_384) == 32_768
    assert trained_timesteps(TrainConfig(total_timesteps=32_768), 16_384) == 32_768


def test_default_run_has_validation_points_and_states_its_rounding(
    tiny,  # noqa: ANN001
    sine_features: FeatureSet,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 8 envs x 64 steps = 512 env-steps a rollout; 2,000 asked -> 4 rollouts = 2,048
    config = tiny(**{"train.eval_every": 0, "train.total_timesteps": 2000})
    with caplog.at_level(logging.WARNING, logger="btcrl.agents.training"):
        result = run_training(config, features=sine_features)
    said = [r.getMessage() for r in caplog.records if "whole rollouts" in r.getMessage()]
    assert said == [
        "training 2,048 env-steps, not train.total_timesteps=2,000: PPO trains whole "
        "rollouts of 512 env-steps (8 envs x 64 steps)"
    ]
    history = MlflowClient().get_metric_history(result.run_id, "val/sharpe")
    assert sorted(m.step for m in history) == [512, 1024, 1536, 2048]
