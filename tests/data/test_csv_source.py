"""``csv:PATH`` parsing: the usual layouts normalise to the same UTC candle frame."""

import re
from pathlib import Path

import pandas as pd
import pytest

from btcrl.data.columns import OHLCV
from btcrl.data.csv_source import read_csv_candles
from btcrl.errors import DataError


@pytest.fixture
def small(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.iloc[:48]


def _write(path: Path, frame: pd.DataFrame, time_column: str, stamps: pd.Series | list) -> Path:
    out = frame.reset_index(drop=True).copy()
    out.insert(0, time_column, stamps)
    out.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("time_column", "render"),
    [
        ("datetime", lambda idx: idx.strftime("%Y-%m-%d %H:%M:%S")),  # naive = UTC
        ("Date", lambda idx: idx.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("time", lambda idx: idx.tz_convert("Asia/Shanghai").strftime("%Y-%m-%dT%H:%M:%S%z")),
        ("Timestamp", lambda idx: idx.as_unit("ms").asi8),  # epoch milliseconds
        ("open_time", lambda idx: idx.as_unit("s").asi8),  # epoch seconds
    ],
)
def test_layouts_normalise_to_utc(tmp_path: Path, small: pd.DataFrame, time_column, render) -> None:
    path = _write(tmp_path / "c.csv", small, time_column, list(render(small.index)))
    parsed = read_csv_candles(path)
    pd.testing.assert_frame_equal(parsed, small, check_freq=False, check_index_type=False)
    assert str(parsed.index.tz) == "UTC" and parsed.index.name == "time"


def test_column_names_case_insensitive_any_order(tmp_path: Path, small: pd.DataFrame) -> None:
    out = small.reset_index()
    out.columns = ["DateTime", "OPEN", "High", "low", "Close", "VOLUME"]
    out = out[["DateTime", "Close", "High", "low", "OPEN", "VOLUME"]]
    out["DateTime"] = out["DateTime"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(tmp_path / "c.csv", index=False)
    parsed = read_csv_candles(tmp_path / "c.csv")
    assert list(parsed.columns) == list(OHLCV)
    pd.testing.assert_frame_equal(parsed, small, check_freq=False)


def test_real_file_reads(shared_data: Path) -> None:
    frame = read_csv_candles(shared_data / "BTCUSDT_15m_binance.csv")  # epoch ms layout
    assert len(frame) == 3_000 and frame.index[0] == pd.Timestamp("2024-01-29 08:45", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-02-29 14:30", tz="UTC")
    assert frame.attrs["time_column"] == "'Timestamp' (epoch ms)"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is malformed"),
        ("time,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n", "lacks column(s) volume"),
        ("time,open,high,low,close,volume\nyesterday,1,2,0.5,1.5,3\n", "is not ISO datetimes"),
        ("time,open,high,low,close,volume\n2024-01-01,1,two,0.5,1.5,3\n", "holds 'two'"),
        ("time,open,high,low,close,volume\n", "has no rows"),
    ],
)
def test_malformed_files_raise_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(expected)) as info:
        read_csv_candles(path)
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read csv file .*missing.csv"):
        read_csv_candles(tmp_path / "missing.csv")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01\x80\x81")
    with pytest.raises(DataError, match="binary.csv"):
        read_csv_candles(tmp_path / "binary.csv")
