"""The candle store: one parquet file per (exchange, symbol, timeframe) under the data dir.

Layout (``<slug>`` is the symbol with ``/`` -> ``-`` and ``:`` -> ``_``, e.g. ``BTC-USDT``)::

    <data_dir>/candles/<exchange>/<slug>/<timeframe>.parquet         the candles (zstd)
    <data_dir>/candles/<exchange>/<slug>/<timeframe>.manifest.json   rows, span, hash, gaps, ...
    <data_dir>/candles/<exchange>/<slug>/<timeframe>.lock            held while ingesting (filelock)
    <data_dir>/candles/<exchange>/<slug>/archive/<timeframe>.<UTC stamp>.parquet  old versions

``<exchange>`` is the ccxt exchange id for ``ccxt``, ``sample`` for the bundled sample and
``csv-<file stem>`` for ``csv:PATH`` (so imported files never mix with exchange downloads).

Every write goes through ``btcrl.data.atomic.atomic_write`` (a private temp file in the same
directory, fsynced and renamed over the old file), so a reader sees the old or the new
version, never a torn one: reading takes no lock and works on a read-only store. The
previous version is hard-linked into ``archive/`` first (the newest ``keep_archives`` kept).
The manifest is also embedded in the parquet's schema metadata: if a crash lands between
the parquet rename and the JSON rename, the embedded copy (whose hash matches) wins.
"""

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from btcrl.data.atomic import atomic_write, atomic_write_text, describe_os_error, sweep_temp_files
from btcrl.data.columns import OHLCV, TIME
from btcrl.data.manifest import Manifest
from btcrl.errors import DataError

log = logging.getLogger(__name__)

MANIFEST_KEY = b"btcrl.manifest"
TIME_UNIT = "us"


@dataclass(frozen=True)
class StoreKey:
    """A series: namespace (exchange id, ``sample`` or ``csv-<stem>``), symbol, timeframe."""

    exchange: str
    symbol: str
    timeframe: str

    @property
    def slug(self) -> str:
        """The symbol as a directory name (``BTC/USDT`` -> ``BTC-USDT``)."""
        return self.symbol.replace("/", "-").replace(":", "_")

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


def empty_candles() -> pd.DataFrame:
    """A candle frame with no rows (the right index type and columns)."""
    index = pd.DatetimeIndex([], tz="UTC", name=TIME).as_unit(TIME_UNIT)
    return pd.DataFrame({column: pd.Series(dtype="float64") for column in OHLCV}, index=index)


class CandleStore:
    """Read, write and lock the files of one ``StoreKey`` under ``data_dir``."""

    def __init__(self, data_dir: Path, key: StoreKey, keep_archives: int = 3) -> None:
        self.key = key
        self.keep_archives = keep_archives
        self.directory = Path(data_dir) / "candles" / key.exchange / key.slug
        self.path = self.directory / f"{key.timeframe}.parquet"
        self.manifest_path = self.directory / f"{key.timeframe}.manifest.json"
        self.lock_path = self.directory / f"{key.timeframe}.lock"
        self.archive_dir = self.directory / "archive"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the key's write lock while ingesting (blocks other writers, never readers).

        Raises DataError when the store cannot be written (read-only, a file in the way)."""
        lock = FileLock(self.lock_path)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as exc:
            what = "the candle store lock"
            raise DataError(describe_os_error(exc, self.lock_path, what)) from None
        try:
            sweep_temp_files(self.directory)
            yield
        finally:
            lock.release()

    def read_manifest(self) -> Manifest | None:
        """The manifest of the stored file; None when nothing (readable) is stored."""
        if not self.path.exists():
            return None
        embedded = self._embedded_manifest()
        try:
            current = Manifest.from_json(self.manifest_path.read_bytes())
        except (OSError, ValueError, TypeError):
            current = None
        if embedded is None:
            # not a file this store wrote completely: rebuild it (the ingest archives it)
            log.warning("%s: %s is unreadable or foreign; it will be rebuilt", self.key, self.path)
            return None
        if current is not None and current.content_hash == embedded.content_hash:
            return current
        log.warning("%s: manifest JSON is stale; using the copy inside the parquet", self.key)
        with contextlib.suppress(DataError):  # best effort (read-only stores): the next ingest
            self.write_manifest(embedded)  # rewrites it too
        return embedded

    def read(self) -> pd.DataFrame:
        """All stored candles (an empty candle frame when nothing is stored)."""
        if not self.path.exists():
            return empty_candles()
        try:
            frame = pd.read_parquet(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(
                f"store file {self.path} is unreadable: {exc}".splitlines()[0]
            ) from None
        frame.index = frame.index.as_unit(TIME_UNIT)
        frame.index.name = TIME
        return frame[list(OHLCV)]

    def write(self, frame: pd.DataFrame, manifest: Manifest) -> None:
        """Atomically replace the stored candles and manifest; archive the previous version."""
        table = pa.Table.from_pandas(frame[list(OHLCV)], preserve_index=True)
        metadata = dict(table.schema.metadata or {})
        metadata[MANIFEST_KEY] = manifest.to_json().encode()
        table = table.replace_schema_metadata(metadata)
        atomic_write(
            self.path,
            lambda tmp: pq.write_table(table, tmp, compression="zstd"),
            before_replace=self._archive_current,
            what="candle store file",
        )
        self.write_manifest(manifest)

    def write_manifest(self, manifest: Manifest) -> None:
        """Atomically replace the JSON manifest only (the parquet is left as it is)."""
        atomic_write_text(self.manifest_path, manifest.to_json(), what="store manifest")

    def _embedded_manifest(self) -> Manifest | None:
        try:
            metadata = pq.read_schema(self.path).metadata or {}
            raw = metadata.get(MANIFEST_KEY)
            return Manifest.from_json(raw) if raw else None
        except (OSError, pa.ArrowException, ValueError, TypeError):
            return None

    def _archive_current(self) -> None:
        if not self.path.exists() or self.keep_archives <= 0:
            return
        self.archive_dir.mkdir(exist_ok=True)
        stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S%fZ")
        target = self.archive_dir / f"{self.key.timeframe}.{stamp}.parquet"
        try:
            os.link(self.path, target)  # the current file stays in place until the rename
        except OSError:
            target.write_bytes(self.path.read_bytes())
        old = sorted(self.archive_dir.glob(f"{self.key.timeframe}.*.parquet"))
        for stale in old[: max(0, len(old) - self.keep_archives)]:
            stale.unlink(missing_ok=True)


@dataclass(frozen=True)
class StoredSeries:
    """One stored series as its manifest describes it (for listings and error messages)."""

    key: StoreKey
    rows: int
    first_bar: str | None
    last_bar: str | None
    source: str

    def __str__(self) -> str:
        return f"{self.key} {self.first_bar} .. {self.last_bar} ({self.rows:,} bars)"


def list_stored(data_dir: Path) -> list[StoredSeries]:
    """Every series under ``data_dir`` that has a readable manifest (reads only, no lock)."""
    out: list[StoredSeries] = []
    root = Path(data_dir) / "candles"
    for manifest_path in sorted(root.glob("*/*/*.manifest.json")):
        try:
            manifest = Manifest.from_json(manifest_path.read_bytes())
        except (OSError, ValueError, TypeError):
            continue
        key = StoreKey(manifest.exchange, manifest.symbol, manifest.timeframe)
        out.append(
            StoredSeries(key, manifest.rows, manifest.first_bar, manifest.last_bar, manifest.source)
        )
    return out
