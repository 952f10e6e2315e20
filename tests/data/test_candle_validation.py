"""Validation finds each problem class, rejects severe ones, repairs minor ones on request."""

import numpy as np
import pandas as pd
import pytest

from btcrl.data.validate import FILLED, fill_gaps, find_gaps, validate_candles
from btcrl.errors import DataError


def test_clean_frame_passes_unchanged(candles: pd.DataFrame) -> None:
    clean, report = validate_candles(candles, "1h")
    pd.testing.assert_frame_equal(clean, candles)
    assert report.severe == {} and report.minor == {} and report.gaps == []
    assert report.rows_in == report.rows_out == len(candles)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("close", np.nan, "nan_prices"),
        ("open", 0.0, "nonpositive_prices"),
        ("low", -5.0, "nonpositive_prices"),
        ("volume", -1.0, "negative_volume"),
        ("volume", np.nan, "nan_volume"),
    ],
)
def test_bad_values_are_severe(
    candles: pd.DataFrame, column: str, value: float, problem: str
) -> None:
    bad = candles.copy()
    bad.iloc[[7, 11], bad.columns.get_loc(column)] = value
    with pytest.raises(DataError, match=f"^batch rejected: 2 {problem.replace('_', ' ')}") as info:
        validate_candles(bad, "1h", label="batch")
    message = str(info.value)
    assert message.startswith("batch rejected: 2 ")
    assert problem.replace("_", " ") in message
    assert "2024-01-01T07:00:00Z" in message  # the first offending row is named
    assert "\n" not in message


def test_high_below_low_is_severe(candles: pd.DataFrame) -> None:
    bad = candles.copy()
    bad.iloc[3, bad.columns.get_loc("high")] = bad["low"].iloc[3] - 1.0
    with pytest.raises(DataError, match="1 high below low"):
        validate_candles(bad, "1h", repair=True)  # not repairable


def test_off_grid_stamps_are_severe(candles: pd.DataFrame) -> None:
    bad = candles.copy()
    bad.index = bad.index.where(np.arange(len(bad)) != 5, bad.index[5] + pd.Timedelta(minutes=30))
    with pytest.raises(DataError, match="1 off grid.*2024-01-01T05:30:00Z"):
        validate_candles(bad, "1h")
    # the same frame is fine on a 30m grid (with gaps)
    _, report = validate_candles(bad, "30m")
    assert report.severe == {}


def test_weekly_grid_is_monday_aligned() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC", name="time")  # Mondays
    frame = pd.DataFrame(
        dict.fromkeys(("open", "high", "low", "close", "volume"), 1.0), index=index
    )
    validate_candles(frame, "1w")
    with pytest.raises(DataError, match="4 off grid"):
        validate_candles(frame.set_axis(index + pd.Timedelta(days=1)), "1w")


def test_duplicates_exact_dropped_conflicting_rejected(candles: pd.DataFrame) -> None:
    doubled = pd.concat([candles, candles.iloc[[4, 9]]])
    clean, report = validate_candles(doubled, "1h")
    pd.testing.assert_frame_equal(clean, candles, check_freq=False)
    assert report.counts["duplicates"] == 2 and report.counts["unsorted"] == 1
    conflict = candles.iloc[[4]].copy()
    conflict["close"] += 1.0
    with pytest.raises(DataError, match="1 conflicting duplicates"):
        validate_candles(pd.concat([candles, conflict]), "1h")


def test_ohlc_inconsistency_kept_unless_repair(candles: pd.DataFrame) -> None:
    bad = candles.copy()
    body_top = max(bad["open"].iloc[2], bad["close"].iloc[2])
    bad.iloc[2, bad.columns.get_loc("high")] = body_top - 1.0  # high below the body
    bad.iloc[6, bad.columns.get_loc("low")] = max(bad["open"].iloc[6], bad["close"].iloc[6]) + 1
    bad.iloc[6, bad.columns.get_loc("high")] = bad["low"].iloc[6] + 5  # still high >= low
    kept, report = validate_candles(bad, "1h")
    assert report.counts["ohlc_inconsistent"] == 2 and report.repaired == 0
    pd.testing.assert_frame_equal(kept, bad)
    fixed, report = validate_candles(bad, "1h", repair=True)
    assert report.repaired == 2
    assert (fixed["high"] >= fixed[["open", "close"]].max(axis=1)).all()
    assert (fixed["low"] <= fixed[["open", "close"]].min(axis=1)).all()
    untouched = fixed.index.difference(bad.index[[2, 6]])
    pd.testing.assert_frame_equal(fixed.loc[untouched], bad.loc[untouched])


def test_gaps_are_listed_as_ranges(candles: pd.DataFrame) -> None:
    holed = candles.drop(candles.index[[10, 11, 12, 40]])
    _, report = validate_candles(holed, "1h")
    assert [(g.start, g.end, g.bars) for g in report.gaps] == [
        (candles.index[10], candles.index[12], 3),
        (candles.index[40], candles.index[40], 1),
    ]
    assert report.missing_bars == 4
    assert report.to_dict()["gap_ranges"][0] == {
        "start": "2024-01-01T10:00:00Z",
        "end": "2024-01-01T12:00:00Z",
        "bars": 3,
    }


def test_real_binance_extract_has_its_one_outage(binance_1h: pd.DataFrame) -> None:
    clean, report = validate_candles(binance_1h, "1h")
    assert len(clean) == 4_343 == 181 * 24 - 1  # nothing filled, nothing dropped
    assert report.missing_bars == 1 and report.severe == {} and report.minor == {}
    (gap,) = report.gaps
    assert gap.start == gap.end == pd.Timestamp("2023-03-24 13:00", tz="UTC")  # SOURCES.md


def test_fill_gaps_marks_filled_bars(candles: pd.DataFrame) -> None:
    holed = candles.drop(candles.index[[10, 11]])
    filled = fill_gaps(holed, "1h")
    assert len(filled) == len(candles)
    assert filled[FILLED].sum() == 2
    row = filled.loc[candles.index[11]]
    assert row["open"] == row["close"] == holed["close"].iloc[9] and row["volume"] == 0.0
    real = filled[~filled[FILLED]].drop(columns=FILLED)
    pd.testing.assert_frame_equal(real, holed, check_freq=False)
    assert find_gaps(filled.index, "1h") == []
