"""No look-ahead across the split: a segment's out-of-sample actions and its train window's
features do not change when every bar after the window is removed or poisoned."""

import numpy as np
import pandas as pd
import pytest

from btcrl.config import DataConfig, FeaturesConfig
from btcrl.config.env import EnvConfig
from btcrl.config.walkforward import WalkforwardConfig
from btcrl.data.sample import load_sample
from btcrl.policy.policies import ModelPolicy
from btcrl.walkforward.oos import run_window
from btcrl.walkforward.split import make_segments
from btcrl.walkforward.windows import window_features

HOUR = pd.Timedelta(hours=1)


def linear_policy(obs_size: int) -> ModelPolicy:
    """A fixed policy that reacts to every observation entry: tanh of a random linear map."""
    weights = np.random.default_rng(7).normal(0.0, 0.5, (obs_size, 2)).astype(np.float32)
    return ModelPolicy(lambda obs: np.tanh(obs @ weights), name="linear")


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return load_sample()


def _poisoned(candles: pd.DataFrame, after: pd.Timestamp) -> pd.DataFrame:
    out = candles.copy()
    late = out.index >= after
    out.loc[late, ["open", "high", "low", "close"]] *= 3.0
    out.loc[late, "volume"] *= 10.0
    return out


def test_oos_actions_ignore_later_bars(candles: pd.DataFrame) -> None:
    config = WalkforwardConfig(train_months=6, val_months=1)
    bar = HOUR
    segments = make_segments(candles.index[0], candles.index[-1] + bar, config, bar)
    segment = segments[3]
    data, features, env = DataConfig(), FeaturesConfig(cache=False), EnvConfig()

    def actions(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        fs = window_features(
            frame, features, data, segment.test_start, segment.test_stop, lead_bars=1
        )
        win = run_window(fs, env, linear_policy(fs.spec.observation_size), 10_000.0, 3)
        return win.steps[["a_pos", "a_sl"]].to_numpy(), win.equity

    full_actions, full_equity = actions(candles)
    assert np.abs(full_actions[:, 0]).max() > 0.1  # the policy does act
    for frame in (
        candles[candles.index < segment.test_stop],
        _poisoned(candles, segment.test_stop),
    ):
        cut_actions, cut_equity = actions(frame)
        np.testing.assert_array_equal(cut_actions, full_actions)
        np.testing.assert_array_equal(cut_equity, full_equity)


def test_train_window_ignores_later_bars(candles: pd.DataFrame) -> None:
    config = WalkforwardConfig(train_months=6, val_months=1)
    segments = make_segments(candles.index[0], candles.index[-1] + HOUR, config, HOUR)
    segment = segments[2]
    data, features = DataConfig(), FeaturesConfig(cache=False)
    full = window_features(candles, features, data, segment.train_start, segment.train_stop)
    poisoned = window_features(
        _poisoned(candles, segment.train_stop),
        features,
        data,
        segment.train_start,
        segment.train_stop,
    )
    assert full.index[-1] == segment.train_stop - HOUR
    np.testing.assert_array_equal(full.features, poisoned.features)
    np.testing.assert_array_equal(full.prices, poisoned.prices)
