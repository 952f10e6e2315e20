"""The whole chain learns: candles -> features -> batched env -> PPO -> validation. On a clean
sine it must beat staying flat and buy-and-hold.

It pins the previous default recipe (configs/recipes/previous_default.yaml: plain log return,
shorts, no curriculum, no carry) on the shipped agent and train settings. The shipped default
(long only, three-phase churn/smoothness curriculum) learns to stay flat on this sine at this
budget (validation return 0.0 on 2026-11-30): its churn penalty outweighs the cycle's gains,
so it cannot show that the chain learns."""

import numpy as np
from agent_data import sine_candles

from btcrl.agents import run_training
from btcrl.agents.split import split_feature_set
from btcrl.agents.validation import evaluate_policy
from btcrl.config import ExperimentConfig, FeaturesConfig, with_overrides
from btcrl.data.timeframes import periods_per_year
from btcrl.features import build_feature_set

BUDGET = 100_000  # env-steps


def test_default_ppo_recipe_beats_flat_and_buy_and_hold_on_a_sine(tracking_uri: str) -> None:
    features_config = FeaturesConfig(
        indicators=("macd", "rsi_30"), strategies=(), turbulence={"enabled": False}
    )
    features = build_feature_set(
        sine_candles(), features_config, exchange="synthetic", symbol="SINE/USD", timeframe="1h"
    )
    config = with_overrides(
        ExperimentConfig(),  # the shipped agent and train settings, only the budget is smaller
        {
            "env.allow_short": True,  # the previous default recipe
            "env.action_mode": "absolute",
            "env.borrow_rate_annual": 0.0,
            "train.curriculum": "off",
            "tracking.uri": tracking_uri,
            "features": features_config.model_dump(mode="json"),
            "train.total_timesteps": BUDGET,
            "train.eval_every": BUDGET // 2,
            "train.register_model": False,
            "train.system_metrics": False,
            "env.fee_rate": 0.0002,  # low costs: the test is about learning, not about fees
            "env.slippage_bps": 0.0,
        },
    )
    result = run_training(config, features=features)

    validation = split_feature_set(features, config.train.split_ratio).validation
    ppy = periods_per_year("1h")

    def constant(a_pos: float):  # noqa: ANN202
        return lambda obs: np.array([[a_pos, 1.0]], dtype=np.float32)

    hold = evaluate_policy(validation, config.env, constant(1.0), ppy)
    flat = evaluate_policy(validation, config.env, constant(0.0), ppy)
    assert flat["val/total_return"] == 0.0 and flat["val/trades"] == 0
    learned = result.metrics
    assert learned["val/total_return"] > max(hold["val/total_return"], 0.0) + 0.10
    assert learned["val/sharpe"] > max(hold["val/sharpe"], 0.0) + 1.0
    assert learned["val/trades"] > 10  # it trades the cycle, not one lucky position
