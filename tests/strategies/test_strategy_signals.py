"""Vectorised signals against the per-candle reference on real data; resampling, the causal
merge, the registry and its entry points."""

from importlib.metadata import EntryPoint

import numpy as np
import pandas as pd
import pytest
from reference.strategies import reference_resample, reference_signal

import btcrl.strategies.base as base
from btcrl.errors import ConfigError
from btcrl.strategies import (
    UNDEFINED,
    Signal,
    Strategy,
    available_strategies,
    get_strategy,
    raw_signals,
    strategy_signals,
)
from btcrl.strategies.resample import merge_to_base, resample_closed

NAMES = ("awesome_macd", "bollinger_rsi", "ott", "supertrend", "volatility_breakout")


@pytest.fixture(scope="module")
def real(btc_1h: pd.DataFrame) -> pd.DataFrame:
    return btc_1h  # 2023 H1: 4,343 bars, one exchange outage inside


@pytest.mark.parametrize("name", NAMES)
def test_vectorised_equals_per_candle_reference(real: pd.DataFrame, name: str) -> None:
    fast = raw_signals(get_strategy(name), real, "1h")
    rng = np.random.default_rng(11)
    events = np.flatnonzero((fast != Signal.HOLD) & (fast != UNDEFINED))
    hours = real.index.hour.to_numpy()
    boundaries = np.flatnonzero(hours % 4 == 0)
    rows = {0, 1, len(real) - 1}
    rows |= set(rng.choice(events, min(15, events.size), replace=False).tolist())
    rows |= {int(b) + d for b in rng.choice(boundaries, 4, replace=False) for d in (-1, 0, 1)}
    rows |= set(rng.integers(0, len(real), 15).tolist())
    rows |= {522, 523, 1033, 1034}  # first bars after outages (2020-11-30, 2020-12-21)
    for t in sorted(r for r in rows if 0 <= r < len(real)):
        assert fast[t] == reference_signal(name, real.iloc[: t + 1], "1h"), f"{name} t={t}"


def test_resample_keeps_closed_buckets_only(real: pd.DataFrame) -> None:
    for stop in (1001, 1002, 1003, 1004, 1033, 1034):  # all phases of a 4h bucket, a gap
        part = real.iloc[:stop]
        ours = resample_closed(part, "1h", "4h")
        ref = reference_resample(part, "1h", "4h")
        pd.testing.assert_frame_equal(ours, ref, check_freq=False)
        assert (ours.index + pd.Timedelta(hours=4) <= part.index[-1] + pd.Timedelta(hours=1)).all()


def test_bucket_with_missing_bars_is_built_from_the_bars_it_has() -> None:
    index = pd.DatetimeIndex(
        [
            "2024-01-01 00:00",
            "2024-01-01 01:00",
            "2024-01-01 04:00",
            "2024-01-01 05:00",
            "2024-01-01 06:00",
            "2024-01-01 07:00",
        ],
        tz="UTC",
        name="time",
    )
    candles = pd.DataFrame(
        {
            "open": [1, 2, 5, 6, 7, 8.0],
            "high": [2, 3, 6, 7, 8, 9.0],
            "low": [0.5, 1, 4, 5, 6, 7.0],
            "close": [2, 3, 6, 7, 8, 9.0],
            "volume": [1, 1, 1, 1, 1, 1.0],
        },
        index=index,
    )
    bars = resample_closed(candles, "1h", "4h")
    assert bars.index.hour.tolist() == [0, 4]
    assert bars.iloc[0].tolist() == [1.0, 3.0, 0.5, 3.0, 2.0]
    # the 00-04 bar closed at 04:00: visible from the row that closes at 04:00 or later,
    # i.e. the 04:00 bar (closes 05:00), since 02:00 and 03:00 are missing
    merged = merge_to_base(np.array([10, 20], np.int8), bars.index, "4h", index, "1h", -1)
    assert merged.tolist() == [-1, -1, 10, 10, 10, 20]


def test_strategy_signals_contract(real: pd.DataFrame) -> None:
    for name in NAMES:
        out = strategy_signals(name, real, "1h")
        assert out.dtype == np.int8 and out.shape == (len(real),)
        assert set(np.unique(out)) <= {0, 1, 2, 3}
        assert {1, 2} <= set(np.unique(out)), name  # real data triggers both entries
    assert strategy_signals("ott", real, "1h")[0] == Signal.FLAT  # warm-up reads as FLAT


def test_timeframes() -> None:
    bars = pd.date_range("2024-01-01", periods=500, freq="3h", tz="UTC", name="time")
    candles = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=bars
    )
    with pytest.raises(
        ConfigError, match="'4h' is not a whole multiple of the data timeframe '3h'"
    ):
        strategy_signals("ott", candles, "3h")
    daily = candles.iloc[:0]
    assert strategy_signals("ott", daily, "1d").size == 0  # 4h on daily bars runs on base bars


def test_registry_and_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(NAMES) <= set(available_strategies())
    with pytest.raises(ConfigError, match="strategy 'nope' is unknown; known: awesome_macd"):
        get_strategy("nope")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['bogus'\]"):
        get_strategy("ott", bogus=1)

    class AlwaysLong(Strategy):
        name = "always_long"

        @property
        def warmup(self) -> int:
            return 0

        def signals(self, candles: pd.DataFrame) -> np.ndarray:
            return np.full(len(candles), Signal.LONG, dtype=np.int8)

    import sys
    import types

    module = types.ModuleType("btcrl_test_plugin")
    module.AlwaysLong = AlwaysLong  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "btcrl_test_plugin", module)
    assert base.ENTRY_POINT_GROUP == "btcrl.strategies"  # the group plug-ins register under
    ep = EntryPoint("always_long", "btcrl_test_plugin:AlwaysLong", base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base, "entry_points", lambda group: [ep] if group == ep.group else [])
    monkeypatch.setattr(base, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    assert "always_long" in available_strategies()
    candles = pd.DataFrame(
        {"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]},
        index=pd.DatetimeIndex(["2024-01-01"], tz="UTC", name="time"),
    )
    assert strategy_signals("always_long", candles, "1h").tolist() == [Signal.LONG]


#: fewest signal changes a strategy must make in 2023 H1 for the sweep to test anything (each
#: makes 99 or more)
MIN_CHANGES = 20


def sweep_rows(signals: np.ndarray) -> list[int]:
    """The rows where ``signals`` changes and the rows before them (the first 400); fails
    when it changes fewer than MIN_CHANGES times: a sweep over no change proves nothing."""
    changes = np.flatnonzero(signals[1:] != signals[:-1]) + 1
    assert len(changes) >= MIN_CHANGES, f"the signal changes {len(changes)} times"
    return sorted(set(changes.tolist()) | set((changes - 1).tolist()))[:400]


def test_a_sweep_over_a_signal_that_never_changes_fails() -> None:
    with pytest.raises(AssertionError, match="the signal changes 0 times"):
        sweep_rows(np.full(1000, Signal.LONG, np.int8))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_reference_sweep_every_signal_change(btc_1h: pd.DataFrame, name: str) -> None:
    """Longer sweep: every row where the signal changes in 2023 H1, and the row
    before it."""
    real = btc_1h
    fast = raw_signals(get_strategy(name), real, "1h")
    rows = sweep_rows(fast)
    for t in rows:
        assert fast[t] == reference_signal(name, real.iloc[: t + 1], "1h"), f"{name} t={t}"
