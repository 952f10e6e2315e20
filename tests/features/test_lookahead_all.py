"""No look-ahead for EVERY registered indicator, strategy and external series, and for the
observation the env builds from the real feature pipeline (issue 12.5).

tests/features/test_feature_lookahead.py checks the default feature list; this file takes
the lists from the registries themselves (a new indicator family, strategy or external
series is covered without editing a test) and compares, exactly (NaN == NaN), features
built on ``candles[:t]`` with the first t rows built on all candles, on the real 2023 H1
extract (one exchange outage inside). Then ``load_feature_set`` (store, warm-up, period
selection) feeds ``TradingEnv``: the observations and rewards of a run ending on day D equal
the first steps of the run on the whole span.
"""

import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.config import DataConfig, EnvConfig, ExternalSeriesConfig, FeaturesConfig
from btcrl.env import TradingEnv
from btcrl.features import FeatureSet, build_feature_set, load_feature_set
from btcrl.features import indicators as indicator_registry
from btcrl.strategies import available_strategies

WINDOWS = (14, 30)  # every windowed family (rsi_N, close_N_sma, ...) at two windows
EXTERNAL_FILES = {
    "vix": "VIX_daily_cboe.csv",
    "spx": "SPX_daily_yahoo.csv",
    "dxy": "DXY_daily_yahoo.csv",
    # no NASDAQ file ships: its series takes the same daily path, so a real daily index
    # (the S&P 500 extract) stands in for it
    "nasdaq": "SPX_daily_yahoo.csv",
}


def all_indicators() -> tuple[str, ...]:
    """Every indicator the registry knows: the fixed ones and each family at WINDOWS."""
    names: list[str] = []
    for token in indicator_registry.INDICATOR_HELP.split(", "):
        names += [token.replace("N", str(n)) for n in WINDOWS] if "N" in token else [token]
    for name in names:
        indicator_registry.get_indicator(name)  # every name resolves
    assert set(indicator_registry._FIXED) <= set(names)  # the help lists every fixed one
    return tuple(dict.fromkeys(names))


def all_external(shared: Path) -> tuple[ExternalSeriesConfig, ...]:
    names = typing.get_args(ExternalSeriesConfig.model_fields["name"].annotation)
    assert set(names) == set(EXTERNAL_FILES)  # a new series needs its real file here
    return tuple(
        ExternalSeriesConfig(name=name, source=f"csv:{shared / EXTERNAL_FILES[name]}")
        for name in names
    )


def everything(shared: Path) -> FeaturesConfig:
    return FeaturesConfig(
        indicators=all_indicators(),
        strategies=available_strategies(),
        external=all_external(shared),
        cache=False,
    )


def _build(candles: pd.DataFrame, config: FeaturesConfig) -> FeatureSet:
    return build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def _prefixes(index: pd.DatetimeIndex, lo: int) -> list[int]:
    """Prefix lengths: around a 4h boundary, a day boundary, a weekend and the outage, plus
    random rows."""
    rng = np.random.default_rng(23)
    n = len(index)
    steps = np.diff(index.as_unit("s").asi8)
    gap = int(np.flatnonzero(steps > 3600)[0]) + 1
    four = int(np.flatnonzero((index.hour == 4) & (np.arange(n) > lo + 50))[0])
    day = int(np.flatnonzero((index.hour == 0) & (np.arange(n) > n // 2))[0])
    monday = int(
        np.flatnonzero((index.dayofweek == 0) & (index.hour == 0) & (np.arange(n) > lo))[3]
    )
    around = [r + d for r in (gap, four, day, monday) for d in (-1, 0, 1)]
    return sorted({t for t in (*around, *rng.integers(lo + 1, n, 6).tolist()) if lo < t < n})


@pytest.fixture(scope="module")
def candles(btc_1h: pd.DataFrame) -> pd.DataFrame:
    return btc_1h


def test_every_registered_feature_is_causal(candles: pd.DataFrame, shared_data: Path) -> None:
    config = everything(shared_data)
    full = _build(candles, config)
    builtin = {"awesome_macd", "bollinger_rsi", "ott", "supertrend", "volatility_breakout"}
    assert set(config.strategies) == builtin | set(available_strategies())
    assert full.spec.external == ("vix", "spx_ret", "dxy_ret", "nasdaq_ret")
    assert len(full.spec.feature_names) > 40 and full.first_valid < len(full) // 2
    rows = _prefixes(candles.index, full.first_valid)
    assert len(rows) >= 15
    for t in rows:
        part = _build(candles.iloc[:t], config)
        assert part.first_valid == full.first_valid, t
        for j, name in enumerate(full.spec.feature_names):
            np.testing.assert_array_equal(
                part.features[:, j], full.features[:t, j], err_msg=f"{name} differs, t={t}"
            )
        np.testing.assert_array_equal(part.raw, full.raw[:t], err_msg=f"raw values, t={t}")
    assert np.isfinite(full.features[full.first_valid :]).all()


def _observe(fs: FeatureSet, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observations (the reset one, then one per step) and rewards of a backtest episode (no
    forced close: the last bar of a shorter period is then an ordinary step)."""
    config = EnvConfig(max_position_btc=10.0, force_close_at_end=False)
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


def test_observation_from_the_real_pipeline_is_causal(tmp_path: Path, shared_data: Path) -> None:
    config = everything(shared_data)
    source = f"csv:{shared_data / 'BTCUSDT_1h_binance.csv'}"
    whole = DataConfig(source=source, data_dir=tmp_path, start="2023-03-01", end="2023-06-30")
    full = load_feature_set(whole, config)
    rng = np.random.default_rng(41)
    actions = rng.uniform(-1, 1, (len(full), 2)).astype(np.float32)
    obs_full, rewards_full = _observe(full, actions)
    assert len(rewards_full) == len(full) - 1 - full.first_valid
    for end in ("2023-03-24", "2023-03-25", "2023-04-30", "2023-06-05"):  # the outage, a
        part = load_feature_set(whole.model_copy(update={"end": end}), config)  # weekend, ...
        assert part.first_valid == full.first_valid
        obs, rewards = _observe(part, actions)
        k = len(rewards)
        assert k > 100 and part.index[-1] == pd.Timestamp(end, tz="UTC") + pd.Timedelta("23h")
        np.testing.assert_array_equal(obs, obs_full[: k + 1], err_msg=f"observations, end {end}")
        np.testing.assert_array_equal(rewards, rewards_full[:k], err_msg=f"rewards, end {end}")
