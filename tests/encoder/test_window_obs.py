"""Windowed observations (``env.window``): layout, start row, batch == single, no look-ahead."""

import numpy as np
import pytest

from btcrl.config import DataConfig, EnvConfig, FeaturesConfig
from btcrl.env import BatchTradingEnv, TradingEnv
from btcrl.env.params import first_row, observation_names, observation_size
from btcrl.features import FeatureSet, load_feature_set

W = 16


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> FeatureSet:
    """Real candles: the bundled sample's default features over 2024-10..2024-11."""
    data = DataConfig(
        data_dir=tmp_path_factory.mktemp("data"), start="2024-10-01", end="2024-11-30"
    )
    return load_feature_set(data, FeaturesConfig())


def _observe(fs: FeatureSet, window: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observations (reset one, then per step) and rewards of a backtest episode."""
    config = EnvConfig(max_position_btc=10.0, force_close_at_end=False, window=window)
    env = TradingEnv(fs, config, mode="backtest")
    obs, _ = env.reset()
    seen, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        seen.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(seen), np.array(rewards)


def test_window_layout_is_the_last_rows_row_major(features: FeatureSet) -> None:
    n_features = len(features.spec.feature_names)
    assert observation_size(features.spec, W) == 2 + W * n_features
    assert observation_size(features.spec) == features.spec.observation_size
    names = observation_names(features.spec, W)
    assert len(names) == observation_size(features.spec, W)
    assert names[1] == f"{features.spec.feature_names[0]}[t-{W - 1}]"
    assert names[-2] == f"{features.spec.feature_names[-1]}[t]"
    actions = np.zeros((40, 2), dtype=np.float32)
    seen, _ = _observe(features, W, actions)
    start = first_row(features, W)
    assert start == features.first_valid + W - 1
    for k in (0, 1, 39):
        row = start + k
        expected = features.features[row - W + 1 : row + 1].reshape(-1)
        np.testing.assert_array_equal(seen[k][1:-1], expected)
        assert seen[k][0] == 1.0 and seen[k][-1] == 0.0  # flat, all cash (legacy account)


def test_window_one_is_the_single_row(features: FeatureSet) -> None:
    actions = np.random.default_rng(1).uniform(-1, 1, (50, 2)).astype(np.float32)
    one, rewards_one = _observe(features, 1, actions)
    wide, rewards_wide = _observe(features, W, actions)
    start = features.first_valid
    np.testing.assert_array_equal(one[0][1:-1], features.features[start])
    # the windowed episode starts W - 1 bars later; its newest row is the single-row obs
    n_features = len(features.spec.feature_names)
    np.testing.assert_array_equal(wide[0][-1 - n_features : -1], one[W - 1][1:-1])
    assert len(rewards_one) == len(rewards_wide) == 50


def test_batch_env_windows_equal_single_env(features: FeatureSet) -> None:
    config = EnvConfig(window=W, episode_length=48)
    batch = BatchTradingEnv(features, config, 3, seed=7)
    obs = batch.reset()
    assert obs.shape == (3, observation_size(features.spec, W))
    singles = [TradingEnv(features, config, seed=7 + i) for i in range(3)]
    first = [env.reset(seed=7 + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs, np.array(first))
    rng = np.random.default_rng(3)
    for _ in range(60):  # past one episode end: auto-reset draws a new windowed start
        actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        obs, _, dones, _ = batch.step(actions)
        for i, env in enumerate(singles):
            single, _, terminated, truncated, _ = env.step(actions[i])
            if terminated or truncated:
                single, _ = env.reset()
            np.testing.assert_array_equal(obs[i], single)
    batch.close()


def test_windowed_observation_is_causal(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The observations and rewards of a W=16 run ending on day D equal the first steps of
    the run on the whole span: a window never reads a row after its own."""
    whole = DataConfig(
        data_dir=tmp_path_factory.mktemp("prefix"), start="2024-09-01", end="2024-11-30"
    )
    full = load_feature_set(whole, FeaturesConfig())
    actions = np.random.default_rng(41).uniform(-1, 1, (len(full), 2)).astype(np.float32)
    obs_full, rewards_full = _observe(full, W, actions)
    assert len(rewards_full) == len(full) - 1 - first_row(full, W)
    for end in ("2024-09-20", "2024-10-15", "2024-11-29"):
        part = load_feature_set(whole.model_copy(update={"end": end}), FeaturesConfig())
        assert part.first_valid == full.first_valid
        obs, rewards = _observe(part, W, actions)
        k = len(rewards)
        assert 0 < k < len(rewards_full)
        np.testing.assert_array_equal(obs, obs_full[: k + 1])
        np.testing.assert_array_equal(rewards, rewards_full[:k])
