"""Infinite and absurd prices are rejected naming the bar, the store stays untouched (issue
23.4); an export stamped at a constant offset is snapped onto the grid with ``repair``
(23.10); the unsorted finding names its row (23.11)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.config import DataConfig
from btcrl.data import ingest_candles, open_store
from btcrl.data.csv_source import read_csv_candles
from btcrl.data.validate import validate_candles
from btcrl.errors import DataError

EXPORT = Path(__file__).parent / "binance_export_1h.csv"  # 72 real Binance hours


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("high", np.inf, "nonfinite prices"),
        ("close", -np.inf, "nonpositive prices"),
        ("volume", np.inf, "nonfinite volume"),
        ("high", 1e308, "implausible prices"),
        ("low", 1e-9, "implausible prices"),
        ("high", 40_000_000.0, "implausible prices"),  # 2,000x the price of the day
    ],
)
def test_an_absurd_value_in_real_bars_is_rejected_naming_the_bar(
    binance_1h: pd.DataFrame, column: str, value: float, problem: str
) -> None:
    bad = binance_1h.copy()
    bad.iloc[2000, bad.columns.get_loc(column)] = value
    stamp = bad.index[2000].strftime("%Y-%m-%dT%H:%M:%SZ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings on the way
        with pytest.raises(DataError, match=problem) as info:
            validate_candles(bad, "1h", label="batch")
    message = str(info.value)
    assert f"1 {problem}" in message and stamp in message and "\n" not in message


def test_real_bars_and_the_bundled_sample_are_plausible(binance_1h: pd.DataFrame) -> None:
    """No false alarm on real data, moves of 2023 and the sample's years included."""
    from btcrl.data import load_candles

    _, report = validate_candles(binance_1h, "1h")
    assert report.severe == {}
    sample = load_candles(DataConfig(source="sample"))
    _, report = validate_candles(sample, "1h")
    assert report.severe == {}


def test_a_rejected_batch_leaves_the_store_untouched(tmp_path: Path) -> None:
    clean = read_csv_candles(EXPORT)
    first = tmp_path / "first.csv"
    clean.iloc[:48].reset_index().to_csv(first, index=False)
    config = DataConfig(data_dir=tmp_path / "data", source=f"csv:{first}")
    ingest_candles(config)
    store = open_store(config)
    before = {p: p.read_bytes() for p in store.path.parent.rglob("*") if p.is_file()}
    more = clean.copy()
    more.iloc[60, more.columns.get_loc("high")] = np.inf
    second = tmp_path / "second.csv"
    more.reset_index().to_csv(second, index=False)
    with pytest.raises(DataError, match="1 nonfinite prices"):
        ingest_candles(DataConfig(data_dir=tmp_path / "data", source=f"csv:{second}"))
    after = {p: p.read_bytes() for p in store.path.parent.rglob("*") if p.is_file()}
    assert after == before


def test_an_export_stamped_five_minutes_late_is_snapped_with_repair(tmp_path: Path) -> None:
    frame = read_csv_candles(EXPORT)
    shifted = frame.set_axis(frame.index + pd.Timedelta(minutes=5))
    with pytest.raises(DataError, match="72 off grid"):
        validate_candles(shifted, "1h")
    fixed, report = validate_candles(shifted, "1h", repair=True)
    pd.testing.assert_frame_equal(fixed, frame[fixed.columns], check_names=False)
    assert report.repair_note == "72 stamps 5 min off the grid snapped back onto it"
    assert "72 stamps 5 min off the grid snapped" in report.findings()


def test_offsets_that_differ_are_not_snapped() -> None:
    frame = read_csv_candles(EXPORT)
    index = frame.index.to_numpy().copy()
    index[3] += np.timedelta64(5, "m")
    index[9] += np.timedelta64(7, "m")
    with pytest.raises(DataError, match="2 off grid"):
        validate_candles(frame.set_axis(pd.DatetimeIndex(index)), "1h", repair=True)


def test_the_unsorted_finding_names_the_row() -> None:
    frame = read_csv_candles(EXPORT)
    swapped = frame.iloc[[0, 1, 3, 2, *range(4, len(frame))]]
    _, report = validate_candles(swapped, "1h")
    assert "1 unsorted (first: 2023-01-01T02:00:00Z open=" in report.findings()
