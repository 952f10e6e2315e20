"""BatchTradingEnv: the same engine as N TradingEnvs, as an SB3 VecEnv."""

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS, BatchTradingEnv, TradingEnv
from btcrl.errors import ConfigError

N_ENVS = 8
STEPS = 10_000


ALL_OPTIONS = {  # every issue-17 engine option on
    "churn_penalty": 0.3,
    "smooth_penalty": 0.02,
    "drawdown_penalty": 0.1,
    "target_volatility": 0.8,
    "vol_window": 24,
    "borrow_rate_annual": 0.1,
    "hysteresis_bars": 2,
    "decision_interval": 3,
    "observation_account": "scale_free",
}


@pytest.mark.parametrize(("parallel", "options"), [(False, {}), (True, {}), (False, ALL_OPTIONS)])
def test_batch_matches_single_envs_step_for_step(
    short_real_features,  # noqa: ANN001
    parallel: bool,
    options: dict,
) -> None:
    config = EnvConfig(
        episode_length=300, leverage_limit=3.0, reward="differential_sharpe", **options
    )
    seed = 7
    batch = BatchTradingEnv(short_real_features, config, N_ENVS, seed=seed, parallel=parallel)
    singles = [TradingEnv(short_real_features, config, seed=seed + i) for i in range(N_ENVS)]
    actions = np.random.default_rng(0).uniform(-1, 1, (STEPS, N_ENVS, 2)).astype(np.float32)
    obs = batch.reset()
    single_obs = np.stack([env.reset()[0] for env in singles])
    np.testing.assert_array_equal(obs, single_obs)
    episodes = 0
    for k in range(STEPS):
        obs, rewards, dones, infos = batch.step(actions[k])
        for i, env in enumerate(singles):
            o, r, terminated, truncated, info = env.step(actions[k, i])
            assert np.float32(r) == rewards[i]
            assert (terminated or truncated) == dones[i]
            assert batch.ledger[i].tolist() == [float(info[f]) for f in LEDGER_FIELDS]
            if dones[i]:
                episodes += 1
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                assert infos[i]["episode"]["l"] == info["episode_steps"]
                assert infos[i]["episode"]["r"] == info["episode_return"]
                assert infos[i]["TimeLimit.truncated"] == (truncated and not terminated)
                o, _ = env.reset()
            else:
                assert infos[i] == {}
            np.testing.assert_array_equal(obs[i], o)
    assert episodes >= N_ENVS * (STEPS // 300 - 1)


def test_seed_applies_at_the_next_reset(short_real_features) -> None:  # noqa: ANN001
    config = EnvConfig(episode_length=100)
    a = BatchTradingEnv(short_real_features, config, 4, seed=0)
    b = BatchTradingEnv(short_real_features, config, 4, seed=3)
    b.seed(0)
    np.testing.assert_array_equal(a.reset(), b.reset())
    assert [r["bar"] for r in a.reset_infos] == [r["bar"] for r in b.reset_infos]
    assert len({r["bar"] for r in a.reset_infos}) > 1


def test_full_info_carries_the_ledger(short_real_features) -> None:  # noqa: ANN001
    env = BatchTradingEnv(
        short_real_features, EnvConfig(allow_short=True), 3, full_info=True, mode="eval"
    )
    env.reset()
    _, _, _, infos = env.step(np.array([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.0]], np.float32))
    assert infos[0]["fill_qty"] > 0 and infos[1]["fill_qty"] < 0 and infos[2]["fill_qty"] == 0
    assert set(LEDGER_FIELDS) <= set(infos[0])
    np.testing.assert_array_equal(env.ledger_column("position"), [i["position"] for i in infos])
    with pytest.raises(ConfigError, match="nope"):
        env.ledger_column("nope")


def test_eval_mode_runs_the_whole_span_then_restarts(short_real_features) -> None:  # noqa: ANN001
    env = BatchTradingEnv(short_real_features, EnvConfig(), 2, mode="eval")
    env.reset()
    span = len(short_real_features) - 1 - short_real_features.first_valid
    zeros = np.zeros((2, 2), np.float32)
    for _ in range(span - 1):
        _, _, dones, _ = env.step(zeros)
        assert not dones.any()
    obs, _, dones, infos = env.step(zeros)
    assert dones.all() and infos[0]["episode"]["l"] == span
    assert infos[0]["TimeLimit.truncated"]
    assert env.reset_infos[0]["bar"] == short_real_features.first_valid


def test_bad_actions_and_sizes_are_config_errors(short_real_features) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="n_envs=0"):
        BatchTradingEnv(short_real_features, EnvConfig(), 0)
    env = BatchTradingEnv(short_real_features, EnvConfig(), 2)
    env.reset()
    with pytest.raises(ConfigError, match=r"\(3, 2\)"):
        env.step(np.zeros((3, 2), np.float32))


def test_sb3_ppo_trains_and_logs_episodes(short_real_features) -> None:  # noqa: ANN001
    from stable_baselines3 import PPO

    env = BatchTradingEnv(short_real_features, EnvConfig(episode_length=50), 4, seed=1)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=512)
    assert len(model.ep_info_buffer) >= 4
    assert all(ep["l"] == 50 for ep in model.ep_info_buffer)
