"""Sample and csv ingests, no-op re-ingests, and ``load_candles`` (the contract others use)."""

import threading
from pathlib import Path

import pandas as pd
import pytest

from btcrl.config import DataConfig
from btcrl.data import FILLED, ingest_candles, load_candles, open_store
from btcrl.data.sample import load_sample
from btcrl.errors import DataError


def _file_state(path: Path) -> tuple[int, int, bytes]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, path.read_bytes()


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def test_default_config_works_offline_and_equals_sample(tmp_path: Path) -> None:
    config = DataConfig(data_dir=tmp_path)
    frame = load_candles(config)
    pd.testing.assert_frame_equal(frame, load_sample())
    store = open_store(config)
    assert store.path == tmp_path / "candles" / "sample" / "BTC-USDT" / "1h.parquet"
    before = _file_state(store.path)
    again = ingest_candles(config)
    assert not again.written and again.report is None and again.requests == 0
    assert _file_state(store.path) == before
    assert again.rows == 28_457 and again.gaps == 1 and again.missing_bars == 1


def test_load_candles_inclusive_days_and_errors(tmp_path: Path) -> None:
    config = DataConfig(data_dir=tmp_path, start="2024-02-01", end="2024-02-29")
    frame = load_candles(config)
    assert frame.index[0] == pd.Timestamp("2024-02-01 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-02-29 23:00", tz="UTC")
    assert len(frame) == 29 * 24 and frame.index.is_unique and frame.index.is_monotonic_increasing
    with pytest.raises(DataError, match="no sample BTC/USDT 1h candles between 2030-01-01"):
        load_candles(DataConfig(data_dir=tmp_path, start="2030-01-01"))
    with pytest.raises(DataError, match="timeframe '4h'"):
        load_candles(DataConfig(data_dir=tmp_path, timeframe="4h"))


def test_fill_gaps_only_when_asked(tmp_path: Path) -> None:
    day = {"start": "2023-03-24", "end": "2023-03-24"}
    raw = load_candles(DataConfig(data_dir=tmp_path, **day))
    assert len(raw) == 23 and FILLED not in raw.columns  # 13:00 is a real Binance outage
    filled = load_candles(DataConfig(data_dir=tmp_path, fill_gaps=True, **day))
    assert len(filled) == 24 and filled[FILLED].sum() == 1
    assert filled.loc[pd.Timestamp("2023-03-24 13:00", tz="UTC"), FILLED]
    assert (
        open_store(DataConfig(data_dir=tmp_path)).read_manifest().missing_bars == 1
    )  # store unfilled


def test_csv_ingest_real_file(tmp_path: Path, shared_data: Path) -> None:
    config = DataConfig(data_dir=tmp_path, source=f"csv:{shared_data / 'BTCUSDT_1h_binance.csv'}")
    result = ingest_candles(config)
    assert result.rows == 4_343 and result.new_rows == 4_343
    assert result.gaps == 1 and result.missing_bars == 1 and result.written
    assert (
        result.path == tmp_path / "candles" / "csv-BTCUSDT_1h_binance" / "BTC-USDT" / "1h.parquet"
    )
    assert result.manifest.gaps == [
        {"start": "2023-03-24T13:00:00Z", "end": "2023-03-24T13:00:00Z", "bars": 1}
    ]
    assert result.manifest.content_hash
    before = _file_state(result.path)
    again = ingest_candles(config)
    assert not again.written and _file_state(result.path) == before


def test_csv_growth_merges_and_archives(tmp_path: Path, candles: pd.DataFrame) -> None:
    path = tmp_path / "mine.csv"
    candles.iloc[:1000].to_csv(path)
    config = DataConfig(data_dir=tmp_path / "data", source=f"csv:{path}")
    assert ingest_candles(config).rows == 1000
    candles.iloc[800:].to_csv(path)  # overlapping re-export with 1,000 newer bars
    result = ingest_candles(config)
    assert result.rows == 2000 and result.new_rows == 1000 and result.written
    pd.testing.assert_frame_equal(load_candles(config), candles, check_freq=False)
    assert len(list(open_store(config).archive_dir.glob("*.parquet"))) == 1
    # same content, new file bytes (reordered): the manifest moves on, the parquet does not
    parquet = _file_state(result.path)
    candles.iloc[::-1].to_csv(path)
    assert not ingest_candles(config).written and _file_state(result.path) == parquet


def test_severe_csv_batch_leaves_store_untouched(tmp_path: Path, candles: pd.DataFrame) -> None:
    path = tmp_path / "mine.csv"
    candles.iloc[:1000].to_csv(path)
    config = DataConfig(data_dir=tmp_path / "data", source=f"csv:{path}")
    ingest_candles(config)
    before = _tree(tmp_path / "data")
    bad = candles.copy()
    bad.iloc[1500, 3] = -1.0
    bad.to_csv(path)
    with pytest.raises(DataError, match="1 nonpositive prices; first offending rows: 2024-03-03"):
        ingest_candles(config)
    assert _tree(tmp_path / "data") == before


def test_repair_option_is_applied_and_recorded(tmp_path: Path, candles: pd.DataFrame) -> None:
    bad = candles.iloc[:100].copy()
    bad.iloc[5, bad.columns.get_loc("high")] = min(bad["open"].iloc[5], bad["close"].iloc[5]) - 0.0
    bad.iloc[5, bad.columns.get_loc("low")] = bad["high"].iloc[5] - 1.0
    path = tmp_path / "mine.csv"
    bad.to_csv(path)
    kept = ingest_candles(DataConfig(data_dir=tmp_path / "a", source=f"csv:{path}"))
    assert kept.report.counts["ohlc_inconsistent"] == 1 and kept.manifest.repaired == 0
    fixed = ingest_candles(DataConfig(data_dir=tmp_path / "b", source=f"csv:{path}", repair=True))
    assert fixed.manifest.repaired == 1 and fixed.report.repaired == 1


def test_concurrent_ingests_of_one_key(tmp_path: Path, candles: pd.DataFrame) -> None:
    path = tmp_path / "mine.csv"
    candles.to_csv(path)
    config = DataConfig(data_dir=tmp_path / "data", source=f"csv:{path}")
    results, errors = [], []

    def run() -> None:
        try:
            results.append(ingest_candles(config))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sum(result.written for result in results) == 1  # the others found it done
    pd.testing.assert_frame_equal(load_candles(config), candles, check_freq=False)


def test_corrupt_store_file_is_rebuilt_and_archived(tmp_path: Path) -> None:
    config = DataConfig(data_dir=tmp_path)
    store = open_store(config)
    ingest_candles(config)
    store.path.write_bytes(store.path.read_bytes()[:1000])  # e.g. a disk that lied about fsync
    result = ingest_candles(config)
    assert result.written and result.rows == 28_457
    pd.testing.assert_frame_equal(load_candles(config), load_sample())
    assert any(p.stat().st_size == 1000 for p in store.archive_dir.glob("*.parquet"))
