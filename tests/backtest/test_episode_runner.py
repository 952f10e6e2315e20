"""The one episode runner: compiled and stepped paths agree, and validation counts trades as
the backtest does."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3 import PPO

from btcrl.agents.validation import evaluate_policy
from btcrl.backtest.ledger import collect_steps, extract_trades, ledger_columns
from btcrl.backtest.report import trades_group
from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS, BatchTradingEnv
from btcrl.errors import ConfigError
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec
from btcrl.metrics import performance_metrics
from btcrl.policy.act import deterministic_act
from btcrl.policy.episode import (
    Episode,
    MlpPolicy,
    backtest_env_config,
    model_policy,
    run_episode,
)
from btcrl.policy.policies import RULE_STOP_PCT, ModelPolicy, RulePolicy

from .conftest import bare_feature_set

PPY = 8760.0


def featured(candles: pd.DataFrame) -> FeatureSet:
    """The candles with two causal columns: the bar's log return (%) and its range / close."""
    close = candles["close"].to_numpy()
    log_return = np.concatenate([[0.0], np.diff(np.log(close))]) * 100.0
    spread = (candles["high"] - candles["low"]).to_numpy() / close * 100.0
    columns = (ColumnSpec("log_return", "indicator", "scale"), ColumnSpec("range", "price", "x"))
    return replace(
        bare_feature_set(candles),
        spec=FeatureSpec("binance", "BTC/USDT", "1h", columns=columns),
        features=np.column_stack([log_return, spread]).astype(np.float32),
    )


def lively_ppo(features: FeatureSet, **extra: object) -> PPO:
    """An untrained 16x16 tanh PPO whose action head is scaled up so that it trades."""
    env = BatchTradingEnv(features, EnvConfig(episode_length=100), 1, seed=0)
    kwargs = {"net_arch": [16, 16], "activation_fn": torch.nn.Tanh}
    model = PPO("MlpPolicy", env, seed=3, n_steps=32, batch_size=32, policy_kwargs=kwargs, **extra)
    with torch.no_grad():
        model.policy.action_net.weight.mul_(50.0)
    return model


class Stepped:
    """A StepPolicy of any kind the runner does not compile (forces TradingEnv stepping)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = "stepped"

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return self.inner.act(row, obs)  # type: ignore[attr-defined]


def _same(a: Episode, b: Episode) -> None:
    assert a.start_row == b.start_row
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.ledger, b.ledger)


def test_a_rule_runs_compiled_and_equals_stepping(candles: pd.DataFrame) -> None:
    fs = featured(candles)
    rng = np.random.default_rng(7)
    targets = np.repeat(rng.choice([-1.0, -0.3, 0.0, 0.6, 1.0], len(fs) // 30 + 1), 30)
    rule = RulePolicy("random", targets[: len(fs)].astype(np.float32))
    config = backtest_env_config(EnvConfig(allow_short=True, max_stop_pct=0.02), True)
    compiled = run_episode(fs, config, rule)
    assert compiled.field("stop_hit").sum() > 5 and (compiled.field("position") < 0).any()
    _same(compiled, run_episode(fs, config, Stepped(rule)))


def test_an_mlp_runs_compiled_and_equals_stepping_its_actions(candles: pd.DataFrame) -> None:
    fs = featured(candles)
    model = lively_ppo(fs)
    policy = model_policy(model.policy, deterministic_act(model), name="ppo")
    assert isinstance(policy, MlpPolicy)
    config = backtest_env_config(EnvConfig(), True)
    compiled = run_episode(fs, config, policy)
    assert np.count_nonzero(compiled.field("fill_qty")) > 100
    _same(compiled, run_episode(fs, config, Stepped(policy)))  # act() is the numpy forward
    torch_path = run_episode(fs, config, ModelPolicy(deterministic_act(model)))
    np.testing.assert_allclose(torch_path.actions, compiled.actions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(torch_path.equity, compiled.equity, rtol=1e-6)


@pytest.mark.parametrize("force_close", [True, False])
def test_closed_trades_count_the_ledgers_round_trips(
    candles: pd.DataFrame, force_close: bool
) -> None:
    fs = featured(candles)
    rng = np.random.default_rng(3)
    targets = np.repeat(rng.choice([-1.0, -0.4, 0.0, 0.5, 1.0], len(fs) // 17 + 1), 17)
    config = backtest_env_config(EnvConfig(allow_short=True, max_stop_pct=0.015), force_close)
    episode = run_episode(fs, config, RulePolicy("r", targets[: len(fs)].astype(np.float32)))
    steps = collect_steps(
        fs, episode.observations, episode.actions, ledger_columns(episode.ledger, LEDGER_FIELDS)
    )
    trades = extract_trades(steps, steps.index, steps["close"].to_numpy())
    closed = trades[~trades["open"].astype(bool)]
    per_step = episode.closed_trades()
    assert set(trades["exit_reason"]) >= {"flip", "stop", "signal"}
    assert per_step.sum() == len(closed) == trades_group(trades)["trade_count"]
    # and each one in the bar it closed in (a flip closes one and opens the next)
    exits = np.bincount(closed["exit_bar"].to_numpy() - episode.start_row - 1, minlength=len(steps))
    np.testing.assert_array_equal(per_step, exits)


def test_validation_scores_the_backtests_episode(candles: pd.DataFrame) -> None:
    """val/* come from the very episode a backtest of the same policy and span runs."""
    fs = featured(candles)
    model = lively_ppo(fs)
    config = EnvConfig()
    metrics = evaluate_policy(fs, config, deterministic_act(model), PPY)
    policy = model_policy(model.policy, deterministic_act(model))
    episode = run_episode(fs, backtest_env_config(config, config.force_close_at_end), policy)
    steps = collect_steps(
        fs, episode.observations, episode.actions, ledger_columns(episode.ledger, LEDGER_FIELDS)
    )
    trades = extract_trades(steps, steps.index, steps["close"].to_numpy())
    trade_count = trades_group(trades)["trade_count"]
    assert trade_count > 20
    assert metrics["val/trades"] == trade_count
    expected = performance_metrics(episode.equity, PPY)
    assert metrics["val/total_return"] == expected["total_return"]
    assert metrics["val/sharpe"] == expected["sharpe"]
    # a plain function of observations steps the env and is scored the same way
    no_stops = config.model_copy(
        update={"min_stop_pct": RULE_STOP_PCT, "max_stop_pct": RULE_STOP_PCT}
    )
    hold = evaluate_policy(fs, no_stops, lambda obs: np.ones((1, 2), np.float32), PPY)
    assert hold["val/trades"] == 1.0  # bought at the first open, closed at the last close


def test_model_policy_falls_back_to_torch(candles: pd.DataFrame) -> None:
    fs = featured(candles)
    sde = lively_ppo(fs, use_sde=True)  # gSDE: no compiled actor
    fallback = model_policy(sde.policy, deterministic_act(sde))
    assert isinstance(fallback, ModelPolicy)
    episode = run_episode(fs, EnvConfig(), fallback)
    expected, _ = sde.predict(episode.observations, deterministic=True)
    np.testing.assert_allclose(episode.actions, expected, rtol=0, atol=1e-6)
    assert np.ptp(episode.actions[:, 0]) > 0.5  # the policy acts: the comparison has teeth

    plain = lively_ppo(fs)

    def wrong(obs: np.ndarray) -> np.ndarray:  # a "torch path" that disagrees with the weights
        return np.zeros((obs.shape[0], 2), np.float32)

    disagreeing = model_policy(plain.policy, wrong)
    assert isinstance(disagreeing, ModelPolicy)
    # it steps the torch path it was given, not the compiled actor that disagrees with it
    np.testing.assert_array_equal(run_episode(fs, EnvConfig(), disagreeing).actions, 0.0)


def test_training_mode_is_refused(candles: pd.DataFrame) -> None:
    fs = featured(candles)
    with pytest.raises(ConfigError, match="episode mode 'train' is unknown"):
        run_episode(
            fs, EnvConfig(), RulePolicy("flat", np.zeros(len(fs), np.float32)), mode="train"
        )
