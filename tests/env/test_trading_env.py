"""TradingEnv: spaces, checkers, modes, seeding, errors and the no-look-ahead rule."""

import warnings
from dataclasses import replace

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import TradingEnv
from btcrl.errors import ConfigError, DataError

from .helpers import simple_feature_set

#: checker warnings about a choice, not a fault: the observation (cash ratio, z-scores) is
#: unbounded, Box(-inf, inf), by design
INTENDED_WARNINGS = (
    r".*observation space minimum value is -infinity",
    r".*observation space maximum value is infinity",
)


def _check(env: TradingEnv) -> None:
    """gymnasium's and SB3's env checkers, every warning but the intended ones an error (the
    env renders nothing, so gymnasium's render check is skipped, not silenced)."""
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pattern in INTENDED_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        check_env(env, skip_render_check=True)
        sb3_check_env(env)


def test_passes_gymnasium_and_sb3_checkers(short_real_features) -> None:  # noqa: ANN001
    _check(TradingEnv(short_real_features, EnvConfig(), seed=0))


class _InfiniteRewardEnv(TradingEnv):
    """A broken env: an infinite reward, which the checkers only warn about (and which the
    old check, ignoring every warning, passed)."""

    def step(self, action):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
        obs, _, *rest = super().step(action)
        return (obs, float("inf"), *rest)


def test_the_checkers_fail_a_broken_env(short_real_features) -> None:  # noqa: ANN001
    with pytest.raises(UserWarning, match="The reward is an inf value"):
        _check(_InfiniteRewardEnv(short_real_features, EnvConfig(), seed=0))


def test_observation_layout(short_real_features) -> None:  # noqa: ANN001
    env = TradingEnv(short_real_features, EnvConfig(), mode="eval")
    obs, info = env.reset()
    first = short_real_features.first_valid
    assert obs.dtype == np.float32
    assert obs.shape == (short_real_features.spec.observation_size,)
    assert info["bar"] == first and env.row == first
    np.testing.assert_array_equal(obs[1:-1], short_real_features.features[first])
    assert obs[0] == 1.0 and obs[-1] == 0.0


def test_train_starts_are_seeded_and_inside_the_bounds(short_real_features) -> None:  # noqa: ANN001
    config = EnvConfig(episode_length=500)
    starts = [TradingEnv(short_real_features, config, seed=3).reset()[1]["bar"] for _ in range(2)]
    assert starts[0] == starts[1]
    env = TradingEnv(short_real_features, config, seed=4)
    seen = {env.reset()[1]["bar"] for _ in range(50)}
    assert len(seen) > 10
    assert min(seen) >= short_real_features.first_valid
    assert max(seen) <= len(short_real_features) - 1 - 500
    env.reset()
    steps = 0
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
        steps += 1
    assert steps == 500 or terminated


def test_mode_defaults_and_errors(short_real_features) -> None:  # noqa: ANN001
    assert TradingEnv(short_real_features, EnvConfig(mode="eval"), mode=None).mode == "eval"
    with pytest.raises(ConfigError, match="'live'"):
        TradingEnv(short_real_features, EnvConfig(), mode="live")
    with pytest.raises(DataError, match="episode_length=5000"):
        TradingEnv(short_real_features, EnvConfig(episode_length=5000))
    with pytest.raises(RuntimeError, match=r"step\(\) called before reset\(\)"):
        TradingEnv(short_real_features, EnvConfig()).step(np.zeros(2, np.float32))


def test_unknown_reward_lists_the_registered_names(short_real_features) -> None:  # noqa: ANN001
    from btcrl.config import load_config

    names = "log_return, asymmetric_drawdown, differential_sharpe"
    with pytest.raises(ConfigError, match=f"env.reward='sharpe'.*{names}"):
        load_config(None, ["env.reward=sharpe"])
    unchecked = EnvConfig.model_construct(**{**EnvConfig().model_dump(), "reward": "sharpe"})
    with pytest.raises(ConfigError, match=f"'sharpe'.*{names}"):
        TradingEnv(short_real_features, unchecked)


def test_nan_features_after_first_valid_are_rejected(short_real_features) -> None:  # noqa: ANN001
    values = short_real_features.features.copy()
    values[100, 2] = np.nan
    with pytest.raises(DataError, match="row 100"):
        TradingEnv(replace(short_real_features, features=values), EnvConfig())


def _episode(features, actions: np.ndarray, config: EnvConfig) -> tuple[list, list]:  # noqa: ANN001
    env = TradingEnv(features, config, mode="backtest")
    obs, _ = env.reset()
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return observations, rewards


@pytest.mark.parametrize("reward", ["log_return", "differential_sharpe"])
def test_nothing_after_bar_t_changes_observation_or_reward_up_to_t(reward: str) -> None:
    from btcrl.data.sample import load_sample

    candles = load_sample().iloc[:600]
    cut = 400  # rows > cut are perturbed
    perturbed = candles.copy()
    rng = np.random.default_rng(1)
    perturbed.iloc[cut + 1 :] *= rng.uniform(0.7, 1.3, (len(candles) - cut - 1, 1))
    config = EnvConfig(reward=reward, leverage_limit=2.0, force_close_at_end=False)
    actions = rng.uniform(-1, 1, (len(candles), 2)).astype(np.float32)
    base = simple_feature_set(candles)
    obs_a, rew_a = _episode(base, actions, config)
    obs_b, rew_b = _episode(simple_feature_set(perturbed), actions, config)
    obs_c, rew_c = _episode(base.rows(0, cut + 1), actions, config)  # data ends at the cut
    k = cut - base.first_valid  # observation k is row first_valid + k; reward k-1 marks it
    assert len(obs_c) == k + 1
    np.testing.assert_array_equal(np.stack(obs_a[: k + 1]), np.stack(obs_b[: k + 1]))
    np.testing.assert_array_equal(np.stack(obs_a[: k + 1]), np.stack(obs_c))
    assert rew_a[:k] == rew_b[:k] == rew_c
    assert obs_a[k + 1].tolist() != obs_b[k + 1].tolist()


def test_reset_can_pin_the_start_row(short_real_features) -> None:  # noqa: ANN001
    env = TradingEnv(short_real_features, EnvConfig(episode_length=100), seed=0)
    obs, info = env.reset(options={"start": 500})
    assert info["bar"] == 500 and env.row == 500
    np.testing.assert_array_equal(obs[1:-1], short_real_features.features[500])
    with pytest.raises(ConfigError, match="start row 5"):
        env.reset(options={"start": 5})
