"""The whole chain learns: on a clean sine, PPO with btcrl's shipped default recipe beats
staying flat and buying and holding on the validation span."""

import numpy as np
from agent_data import sine_feature_set

from btcrl.agents import run_training
from btcrl.agents.split import split_feature_set
from btcrl.agents.validation import evaluate_policy
from btcrl.config import ExperimentConfig, with_overrides
from btcrl.data.timeframes import periods_per_year

BUDGET = 100_000  # env-steps


def test_default_ppo_recipe_beats_flat_and_buy_and_hold_on_a_sine(tracking_uri: str) -> None:
    features = sine_feature_set(n=3000, period=48)
    defaults = ExperimentConfig()
    config = with_overrides(
        defaults,
        {
            "tracking.uri": tracking_uri,
            "train.total_timesteps": BUDGET,
            "train.eval_every": BUDGET // 2,
            "train.register_model": False,
            "train.system_metrics": False,
            "env.fee_rate": 0.0002,  # low costs: the test is about learning, not about fees
            "env.slippage_bps": 0.0,
        },
    )
    result = run_training(config, features=features)

    split = split_feature_set(features, config.train.split_ratio)
    ppy = periods_per_year("1h")

    def constant(a_pos: float):  # noqa: ANN202
        return lambda obs: np.array([[a_pos, 1.0]], dtype=np.float32)

    hold = evaluate_policy(split.validation, config.env, constant(1.0), ppy)
    flat = evaluate_policy(split.validation, config.env, constant(0.0), ppy)
    assert flat["val/total_return"] == 0.0 and flat["val/trades"] == 0
    learned = result.metrics
    assert learned["val/total_return"] > max(hold["val/total_return"], 0.0) + 0.10
    assert learned["val/sharpe"] > max(hold["val/sharpe"], 0.0) + 1.0
    assert learned["val/trades"] > 10  # it trades the cycle, not one lucky position
