"""Stored data by its key (``csv-<stem>``, ``store:<namespace>``), and what a missing span says."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import DataConfig, FeaturesConfig
from btcrl.data import ingest_candles, list_stored, load_candles
from btcrl.errors import DataError
from btcrl.features import load_feature_set

EXPORT = Path(__file__).parent / "binance_export_1h.csv"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding the sample and ``csv-newer`` (72 bars, 2023-01-01 .. 01-03); the
    CSV file itself is gone afterwards."""
    data_dir = tmp_path / "data"
    ingest_candles(DataConfig(data_dir=data_dir))
    csv = tmp_path / "newer.csv"
    shutil.copyfile(EXPORT, csv)
    ingest_candles(DataConfig(data_dir=data_dir, source=f"csv:{csv}"))
    csv.unlink()
    return data_dir


def test_stored_key_reads_without_the_file(store: Path) -> None:
    frame = load_candles(DataConfig(data_dir=store, source="csv-newer"))
    assert len(frame) == 72 and str(frame.index[0]) == "2023-01-01 00:00:00+00:00"
    same = load_candles(DataConfig(data_dir=store, source="store:csv-newer"))
    assert same.equals(frame)
    sample = load_candles(DataConfig(data_dir=store, source="store:sample", start="2025-03-31"))
    assert len(sample) == 18  # the sample's last day ends 17:00


def test_listing_names_every_stored_series(store: Path) -> None:
    listed = {str(series.key): series for series in list_stored(store)}
    assert set(listed) == {"csv-newer BTC/USDT 1h", "sample BTC/USDT 1h"}
    newer = listed["csv-newer BTC/USDT 1h"]
    assert (newer.rows, newer.first_bar, newer.last_bar) == (
        72,
        "2023-01-01T00:00:00Z",
        "2023-01-03T23:00:00Z",
    )
    assert list_stored(store / "nothing-here") == []


def test_missing_span_says_what_is_stored_and_how_to_get_it(store: Path) -> None:
    config = DataConfig(data_dir=store, source="csv-newer", start="2024-01-01", end="2024-01-31")
    with pytest.raises(DataError, match="^no csv-newer BTC/USDT 1h candles between") as info:
        load_candles(config)
    message = str(info.value)
    assert message.startswith(
        f"no csv-newer BTC/USDT 1h candles between 2024-01-01 and 2024-01-31 in {store}; "
        "the store holds: csv-newer BTC/USDT 1h 2023-01-01T00:00:00Z .. 2023-01-03T23:00:00Z "
        "(72 bars); sample BTC/USDT 1h 2022-01-01T00:00:00Z .. 2025-03-31T17:00:00Z (28,457 bars). "
    )
    assert message.endswith(
        "Get them with: btcrl ingest --source ccxt --exchange binance --symbol BTC/USDT "
        "--timeframe 1h --start 2024-01-01 --end 2024-01-31 "
        "(or --source csv:PATH --symbol BTC/USDT --timeframe 1h for a file of yours)"
    )
    with pytest.raises(DataError, match="no csv-other BTC/USDT 1h candles between the start"):
        load_candles(DataConfig(data_dir=store, source="csv-other"))
    with pytest.raises(DataError, match="names stored data; ingest it with --source csv:PATH"):
        ingest_candles(DataConfig(data_dir=store, source="csv-newer"))


def test_feature_period_after_the_stored_span_lists_the_store(store: Path) -> None:
    """Warm-up history exists (the sample), the period itself does not: the same message."""
    data = DataConfig(data_dir=store, start="2025-04-01", end="2025-04-30")
    with pytest.raises(
        DataError,
        match=r"^no sample BTC/USDT 1h candles between 2025-04-01 and 2025-04-30 \(with warm-up "
        r"history from 2025-02-22\) in .*the store holds: csv-newer .*Get them with: btcrl",
    ):
        load_feature_set(data, FeaturesConfig(strategies=(), cache=False))


def test_cli_backtest_on_a_stored_key_after_one_ingest(
    tmp_path: Path, shared_data: Path, tracking_uri: str
) -> None:
    """The README's path: ingest a file once, then backtest by its key (no CSV path again)."""
    data_dir = str(tmp_path / "data")
    csv = tmp_path / "newer.csv"
    shutil.copyfile(shared_data / "BTCUSDT_1h_binance.csv", csv)  # 2023 H1
    ingest = ["ingest", "--source", f"csv:{csv}", "--data-dir", data_dir, "--no-features"]
    assert CliRunner().invoke(main, ingest).exit_code == 0
    csv.unlink()
    args = ["backtest", "--source", "csv-newer", "--data-dir", data_dir, "--policy", "buy_and_hold"]
    result = CliRunner().invoke(main, [*args, "--start", "2023-05-01", "--end", "2023-06-30"])
    assert result.exit_code == 0, result.output
    assert "2023-05-01" in result.stdout and "2023-06-30" in result.stdout
    missing = CliRunner().invoke(main, [*args, "--start", "2024-01-01", "--end", "2024-01-31"])
    assert missing.exit_code == 1, missing.output
    line = missing.stderr.strip()
    assert line.startswith(
        "error: no csv-newer BTC/USDT 1h candles between 2024-01-01 and 2024-01-31 (with "
        "warm-up history from 2023-06-09)"
    )
    assert "the store holds: csv-newer BTC/USDT 1h 2023-01-01T00:00:00Z .. " in line
    assert "--start 2023-06-09 --end 2024-01-31" in line and "\n" not in line
