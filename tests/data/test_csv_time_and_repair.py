"""CSV time columns (a real Binance export layout), validation findings, requested repairs."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import DataConfig
from btcrl.data import ingest_candles, load_candles, open_store
from btcrl.data.csv_source import read_csv_candles
from btcrl.errors import DataError

# 72 real Binance hours (2023-01-01 .. 01-03) in the layout of a Binance export: an unnamed
# index column, epoch-ms "Open time", "Close time" and a "Date" like 2023-01-01_00:00:00
EXPORT = Path(__file__).parent / "binance_export_1h.csv"


def _export_frame() -> pd.DataFrame:
    return pd.read_csv(EXPORT, index_col=0)


def test_binance_export_reads_by_its_open_time_column() -> None:
    frame = read_csv_candles(EXPORT)
    assert frame.attrs["time_column"] == "'Open time' (epoch ms)"
    assert len(frame) == 72
    assert frame.index[0] == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2023-01-03 23:00", tz="UTC")
    assert frame["open"].iloc[0] == 16541.77 and frame["close"].iloc[0] == 16529.67


def test_named_time_column_wins_and_a_bad_one_says_why() -> None:
    explicit = read_csv_candles(EXPORT, "open time")  # any case
    pd.testing.assert_frame_equal(explicit, read_csv_candles(EXPORT))
    with pytest.raises(DataError, match="column Date .* is not ISO datetimes") as info:
        read_csv_candles(EXPORT, "Date")
    message = str(info.value)
    assert "column Date (first value '2023-01-01_00:00:00') is not ISO datetimes" in message
    assert message.endswith(")") and "You might" not in message and "\n" not in message
    with pytest.raises(DataError, match="has no column 'When' .*found Unnamed: 0, Open time, Open"):
        read_csv_candles(EXPORT, "When")


def test_no_complete_column_names_every_candidate(tmp_path: Path) -> None:
    frame = _export_frame().drop(columns=["Open time", "Close time"])
    path = tmp_path / "dates_only.csv"
    frame.to_csv(path)
    with pytest.raises(DataError, match=r"column Date \(first value '2023-01-01_00:00:00'\) is"):
        read_csv_candles(path)
    frame.insert(0, "timestamp", "soon")  # two candidates, neither complete: both named
    frame.to_csv(path)
    with pytest.raises(DataError, match="no column parses completely as bar open times") as info:
        read_csv_candles(path)
    assert str(info.value).endswith(
        "no column parses completely as bar open times ('timestamp' (first value 'soon'); "
        "'Date' (first value '2023-01-01_00:00:00')); name one with --time-column"
    )
    frame = frame.drop(columns=["timestamp"])
    frame["Date"] = frame["Date"].str.replace("_", " ")  # now ISO text: it is chosen
    frame.to_csv(path)
    assert read_csv_candles(path).attrs["time_column"] == "'Date' (ISO text)"


def test_cli_ingest_of_the_export_reports_the_column_and_findings(tmp_path: Path) -> None:
    args = ["ingest", "--source", f"csv:{EXPORT}", "--data-dir", str(tmp_path), "--no-features"]
    result = CliRunner().invoke(main, [*args, "--set", "tracking.enabled=false"])
    assert result.exit_code == 0, result.output
    assert "time column: 'Open time' (epoch ms)" in result.stdout
    assert "validation: 72 rows read, 72 kept" in result.stdout
    explicit = CliRunner().invoke(
        main, [*args, "--set", "tracking.enabled=false", "--time-column", "Date"]
    )
    assert explicit.exit_code == 1 and "column Date" in explicit.stderr


def _with_problems(tmp_path: Path, *, off_grid: bool = False) -> Path:
    frame = _export_frame()
    frame.loc[5, "High"] = frame.loc[5, "Close"] - 10.0  # high below close: minor
    if off_grid:
        frame.loc[7, "Open time"] += 60_000  # 07:01: not on the 1h grid: severe
    path = tmp_path / "export.csv"
    frame.to_csv(path)
    return path


def test_validation_reports_findings_with_first_rows(tmp_path: Path) -> None:
    path = _with_problems(tmp_path)
    result = ingest_candles(DataConfig(data_dir=tmp_path / "d", source=f"csv:{path}"))
    report = result.report
    assert report is not None and report.counts["ohlc_inconsistent"] == 1
    assert report.findings().startswith("72 rows read, 72 kept; 1 ohlc inconsistent (first: ")
    assert "2023-01-01T05:00:00Z" in report.findings() and report.repaired == 0
    bad = _with_problems(tmp_path, off_grid=True)
    with pytest.raises(DataError, match="1 off grid") as info:
        ingest_candles(DataConfig(data_dir=tmp_path / "e", source=f"csv:{bad}"))
    message = str(info.value)
    assert "rejected (time column 'Open time' (epoch ms)): 1 off grid" in message
    assert "first offending rows: 2023-01-01T07:01:00Z" in message
    assert "(72 rows read; data.repair never fixes these" in message


def test_repair_on_unchanged_input_repairs(tmp_path: Path) -> None:
    path = _with_problems(tmp_path)
    plain = DataConfig(data_dir=tmp_path / "d", source=f"csv:{path}")
    ingest_candles(plain)
    stored = open_store(plain).read()
    close = stored["close"].iloc[5]
    assert stored["high"].iloc[5] == close - 10.0  # kept as it came
    repair = plain.model_copy(update={"repair": True})
    result = ingest_candles(repair)  # the same file: before the fix, silently nothing
    assert result.written and result.report is not None and result.report.repaired == 1
    assert load_candles(repair)["high"].iloc[5] == close  # widened to bracket the close
    assert result.manifest.repair and result.manifest.repaired == 1
    again = ingest_candles(repair)
    assert again.report is None and not again.written  # already repaired: a no-op


def test_repair_with_nothing_to_repair_says_so(tmp_path: Path) -> None:
    config = DataConfig(data_dir=tmp_path, source=f"csv:{EXPORT}", repair=True)
    report = ingest_candles(config).report
    assert report is not None and report.repaired == 0
    assert report.repair_note == (
        "repair requested but nothing to repair: no bar has high/low outside open/close "
        "and no stamp is off the grid"
    )
    assert report.to_dict()["repair_note"] == report.repair_note
