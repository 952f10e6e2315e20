"""No look-ahead: features computed on candles[:t] equal the first t rows computed on all.

Covers every observed column (price block, volume, indicators, turbulence, VIX/S&P/DXY from
the shared CSVs, strategy one-hots), the raw values and the strategy signal codes, on real
candles with exchange outages inside, at sampled t just before and after 4h and daily
boundaries and gaps. The comparison is exact (NaN == NaN): a causal computation gives the
same bits whatever comes after.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.config import ExternalSeriesConfig, FeaturesConfig
from btcrl.features import FeatureSet, build_feature_set
from btcrl.strategies import get_strategy, raw_signals

SLICE = slice(None)  # the whole extract: 2023 H1, 4,343 bars, the 2023-03-24 outage inside


def _config(shared: Path) -> FeaturesConfig:
    return FeaturesConfig(
        external=(
            ExternalSeriesConfig(name="vix", source=f"csv:{shared / 'VIX_daily_cboe.csv'}"),
            ExternalSeriesConfig(name="spx", source=f"csv:{shared / 'SPX_daily_yahoo.csv'}"),
            ExternalSeriesConfig(name="dxy", source=f"csv:{shared / 'DXY_daily_yahoo.csv'}"),
        ),
        cache=False,
    )


def _build(candles: pd.DataFrame, config: FeaturesConfig) -> FeatureSet:
    return build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def sample_rows(index: pd.DatetimeIndex, rng: np.random.Generator, lo: int) -> list[int]:
    """Prefix lengths t: around 4h and daily boundaries, around gaps, and random."""
    n = len(index)
    hours = index.hour.to_numpy()
    minutes = index.minute.to_numpy()
    ok = np.arange(n) > lo + 2
    four = rng.choice(np.flatnonzero((hours % 4 == 0) & (minutes == 0) & ok), 5, False)
    day = rng.choice(np.flatnonzero((hours == 0) & (minutes == 0) & ok), 5, False)
    steps = np.diff(index.as_unit("s").asi8)
    gaps = np.flatnonzero(steps > steps.min())[:8] + 1
    around = [r + d for r in (*four, *day, *gaps) for d in (-1, 0, 1, 2)]
    rand = rng.integers(lo, n, 15)
    return sorted({int(t) for t in (*around, *rand) if lo <= t < n})


@pytest.fixture(scope="module")
def full(btc_1h: pd.DataFrame, shared_data: Path) -> tuple[pd.DataFrame, FeatureSet]:
    candles = btc_1h.iloc[SLICE]
    return candles, _build(candles, _config(shared_data))


def test_every_feature_column_is_causal(full, shared_data: Path) -> None:
    candles, fs = full
    assert fs.spec.external == ("vix", "spx_ret", "dxy_ret")
    config = _config(shared_data)
    rows = sample_rows(candles.index, np.random.default_rng(3), fs.first_valid + 1)
    assert len(rows) >= 50  # 4h, daily and gap boundaries (+-2 rows), 15 random
    for t in rows:
        part = _build(candles.iloc[:t], config)
        assert part.first_valid == fs.first_valid, t
        for j, name in enumerate(fs.spec.feature_names):
            np.testing.assert_array_equal(
                part.features[:, j], fs.features[:t, j], err_msg=f"column {name} differs at t={t}"
            )
        np.testing.assert_array_equal(part.raw, fs.raw[:t], err_msg=f"raw values, t={t}")
    assert np.isfinite(fs.features[fs.first_valid :]).all()


def test_higher_timeframe_signal_waits_for_its_bar_to_close(full) -> None:
    """A 4h signal changes only on rows that close a 4h bucket (or the first row after a
    gap that closed one); never inside a bucket."""
    candles, _ = full
    codes = raw_signals(get_strategy("awesome_macd"), candles, "1h")
    close = candles.index + pd.Timedelta(hours=1)
    changed = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    assert changed.size > 20
    prev_close = close[changed - 1]
    # a 4h bar closes at a multiple of 4h in (previous row close, this row close]
    boundary = close[changed].floor("4h")
    assert ((boundary > prev_close) & (boundary <= close[changed])).all()


def test_daily_external_value_first_visible_after_the_day_closes(full, btc_1h) -> None:
    candles, fs = full
    raw_vix = fs.raw[:, fs.raw_names.index("raw_vix")]
    changed = np.flatnonzero(raw_vix[1:] != raw_vix[:-1]) + 1
    changed = changed[np.isfinite(raw_vix[changed - 1])]
    assert changed.size > 50
    # rows whose close is exactly 00:00 UTC (the 23:00 bar) are the first to see a new day
    assert (candles.index[changed].hour == 23).all()
    assert not np.isin(candles.index[changed].dayofweek, (5, 6)).any()  # weekends carry Friday


def test_causal_on_15m_bars_with_4h_and_daily_inputs(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / "BTCUSDT_15m_binance.csv").iloc[:3000]
    index = pd.DatetimeIndex(
        pd.to_datetime(frame.pop("Timestamp"), unit="ms", utc=True), name="time"
    )
    candles = frame.set_index(index).rename(columns=str.lower).astype("float64")
    config = _config(shared_data)
    fs = build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="15m")
    rows = sample_rows(candles.index, np.random.default_rng(5), fs.first_valid + 1)
    for t in rows[::2]:
        part = build_feature_set(
            candles.iloc[:t], config, exchange="binance", symbol="BTC/USDT", timeframe="15m"
        )
        np.testing.assert_array_equal(part.features, fs.features[:t], err_msg=f"t={t}")
        np.testing.assert_array_equal(part.raw, fs.raw[:t], err_msg=f"t={t}")


def test_the_prefix_check_catches_a_leaky_merge(btc_1h: pd.DataFrame) -> None:
    """The check has teeth: a 4h merge keyed on the bucket's open + 1h (instead of its close)
    shows the bucket's close before it happened, and the prefix comparison sees it."""
    from btcrl.strategies.resample import merge_to_base, resample_closed

    candles = btc_1h.iloc[SLICE].iloc[:400]

    def leaky(c: pd.DataFrame) -> np.ndarray:
        bars = resample_closed(c, "1h", "4h")
        return merge_to_base(bars["close"].to_numpy(), bars.index, "1h", c.index, "1h", np.nan)

    full_values = leaky(candles)
    leaks = [
        t
        for t in range(300, 340)
        if not np.array_equal(leaky(candles.iloc[:t]), full_values[:t], equal_nan=True)
    ]
    assert leaks


@pytest.mark.slow
def test_every_feature_column_is_causal_on_the_whole_file(btc_1h, shared_data: Path) -> None:
    """The sweep on the whole extract (2023 H1, its one gap): 150 prefixes."""
    config = _config(shared_data)
    fs = _build(btc_1h, config)
    rng = np.random.default_rng(17)
    rows = sample_rows(btc_1h.index, rng, fs.first_valid + 1)
    rows = sorted(set(rows) | set(rng.integers(fs.first_valid + 1, len(btc_1h), 60).tolist()))
    for t in rows:
        part = _build(btc_1h.iloc[:t], config)
        np.testing.assert_array_equal(part.features, fs.features[:t], err_msg=f"t={t}")
        np.testing.assert_array_equal(part.raw, fs.raw[:t], err_msg=f"t={t}")
