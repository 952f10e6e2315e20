"""The parquet store: round trip, atomic replace, archive, manifest fallback, lock."""

import errno
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from btcrl.data.hashing import frame_hash
from btcrl.data.manifest import Manifest, merge_ranges, subtract_ranges
from btcrl.data.store import CandleStore, StoreKey
from btcrl.errors import DataError

KEY = StoreKey("binance", "BTC/USDT", "1h")
H = 3_600_000


def _manifest(frame: pd.DataFrame) -> Manifest:
    return Manifest(
        "binance", "BTC/USDT", "1h", "test", rows=len(frame), content_hash=frame_hash(frame)
    )


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_layout_and_round_trip(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, KEY)
    assert store.read().empty and store.read_manifest() is None
    store.write(candles, _manifest(candles))
    assert store.path == tmp_path / "candles" / "binance" / "BTC-USDT" / "1h.parquet"
    assert store.manifest_path.name == "1h.manifest.json"
    pd.testing.assert_frame_equal(store.read(), candles, check_freq=False, check_index_type=False)
    assert store.read_manifest() == _manifest(candles)
    assert not list(store.directory.glob(".tmp-*"))


def test_previous_version_archived_and_bounded(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, KEY, keep_archives=2)
    versions = [candles.iloc[: 100 * (i + 1)] for i in range(4)]
    for version in versions:
        store.write(version, _manifest(version))
    archived = sorted(store.archive_dir.glob("1h.*.parquet"))
    assert len(archived) == 2  # the newest two previous versions
    assert len(pd.read_parquet(archived[-1])) == 300 and len(pd.read_parquet(archived[0])) == 200
    assert len(store.read()) == 400


def test_failed_write_leaves_store_byte_identical(
    tmp_path: Path, candles: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CandleStore(tmp_path, KEY)
    store.write(candles.iloc[:500], _manifest(candles.iloc[:500]))
    before = _snapshot(tmp_path)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("btcrl.data.store.pq.write_table", disk_full)
    with pytest.raises(DataError, match="1h.parquet: no space left on device; the old version"):
        store.write(candles, _manifest(candles))
    assert _snapshot(tmp_path) == before


def test_stale_json_manifest_falls_back_to_embedded(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, KEY)
    old, new = candles.iloc[:10], candles.iloc[:20]
    store.write(old, _manifest(old))
    stale_json = store.manifest_path.read_text()
    store.write(new, _manifest(new))
    store.manifest_path.write_text(stale_json)  # as if killed between the two renames
    assert store.read_manifest() == _manifest(new)
    assert Manifest.from_json(store.manifest_path.read_text()) == _manifest(new)  # repaired


def test_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, KEY)
    order: list[str] = []

    def second() -> None:
        with CandleStore(tmp_path, KEY).lock():
            order.append("second")

    with store.lock():
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)  # the second holder must still be waiting
        order.append("first released")
    thread.join(5)
    assert order == ["first released", "second"]


def test_range_arithmetic() -> None:
    assert merge_ranges([(5 * H, 9 * H), (0, 4 * H), (20 * H, 21 * H)], H) == [
        (0, 9 * H),
        (20 * H, 21 * H),
    ]
    have = [(10 * H, 19 * H), (30 * H, 39 * H)]
    assert subtract_ranges((0, 49 * H), have, H) == [(0, 9 * H), (20 * H, 29 * H), (40 * H, 49 * H)]
    assert subtract_ranges((12 * H, 15 * H), have, H) == []
    assert subtract_ranges((15 * H, 32 * H), have, H) == [(20 * H, 29 * H)]


def test_lock_sweeps_temp_files_of_a_killed_writer(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, KEY)
    store.write(candles, _manifest(candles))
    left = store.directory / ".tmp-abc123.parquet"
    left.write_bytes(b"half a file")
    with store.lock():
        assert not left.exists()
    pd.testing.assert_frame_equal(store.read(), candles, check_freq=False, check_index_type=False)
