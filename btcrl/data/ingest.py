"""Ingest candles into the store (``ingest_candles``) and hand them out (``load_candles``)."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from btcrl.config import DataConfig
from btcrl.data import sample as sample_package
from btcrl.data.columns import TIME
from btcrl.data.csv_source import csv_path, file_fingerprint, read_csv_candles
from btcrl.data.hashing import frame_hash
from btcrl.data.manifest import Manifest, Range, merge_ranges, ms_to_iso, subtract_ranges
from btcrl.data.sample import SAMPLE_FILE, SAMPLE_SYMBOL, SAMPLE_TIMEFRAME, load_sample
from btcrl.data.store import CandleStore, StoreKey, empty_candles, list_stored
from btcrl.data.timeframes import timeframe_ms
from btcrl.data.validate import Gap, ValidationReport, fill_gaps, find_gaps, validate_candles
from btcrl.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What one ingest did. ``report`` is None when nothing new had to be read (a no-op)."""

    key: StoreKey
    path: Path
    manifest_path: Path
    manifest: Manifest
    report: ValidationReport | None
    new_rows: int = 0
    requests: int = 0
    seconds: float = 0.0
    written: bool = False
    fetched: list[Range] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows in the store after the ingest."""
        return self.manifest.rows

    @property
    def gaps(self) -> int:
        """Known gaps (runs of missing bars inside the covered ranges) in the store."""
        return len(self.manifest.gaps)

    @property
    def missing_bars(self) -> int:
        """Bars missing inside the covered ranges, summed over all gaps."""
        return self.manifest.missing_bars


def store_key(config: DataConfig) -> StoreKey:
    """The store key of a data config (see ``btcrl.data.store`` for the layout)."""
    if config.source == "sample":
        return StoreKey("sample", SAMPLE_SYMBOL, SAMPLE_TIMEFRAME)
    if config.source.startswith("csv:"):
        return StoreKey(f"csv-{csv_path(config.source).stem}", config.symbol, config.timeframe)
    if is_stored_source(config.source):
        namespace = config.source.removeprefix("store:")
        return StoreKey(namespace, config.symbol, config.timeframe)
    return StoreKey(config.exchange, config.symbol, config.timeframe)


def is_stored_source(source: str) -> bool:
    """True for ``csv-<stem>`` and ``store:<namespace>``: data already in the store, read as is."""
    return source.startswith(("csv-", "store:"))


def open_store(config: DataConfig) -> CandleStore:
    """The store of ``config``'s series under ``config.data_dir``."""
    return CandleStore(config.data_dir, store_key(config), keep_archives=config.keep_archives)


def ingest_candles(
    config: DataConfig, progress: Callable[[int, int], None] | None = None
) -> IngestResult:
    """Make the store hold ``config``'s range: import sample/csv, or fetch what ccxt lacks.

    Sample and csv sources are imported whole (a re-import of an unchanged file does nothing).
    For ccxt only the bars outside the stored coverage are fetched. New batches are validated
    (severe problems raise DataError and leave the store untouched), merged (new values win),
    sorted and de-duplicated, then written atomically; a result equal to the stored content
    leaves the parquet file untouched. ``progress(done, total)``: bars fetched from an exchange.
    """
    started = time.perf_counter()
    _check_sample(config)
    if is_stored_source(config.source):
        raise DataError(
            f"source {config.source!r} names stored data; ingest it with --source csv:PATH, "
            "ccxt or sample (it is read as it is by the other commands)"
        )
    if config.source == "ccxt":
        from btcrl.data.ccxt_source import check_exchange_id

        check_exchange_id(config.exchange)  # before the store's folder and lock exist
    store = open_store(config)
    with store.lock():
        previous = store.read_manifest()
        if config.source == "ccxt":
            result = _ingest_ccxt(config, store, previous, progress)
        else:
            result = _ingest_file(config, store, previous)
    result.seconds = time.perf_counter() - started
    log.info(
        "%s: %d rows (%d new), %d gaps / %d missing bars, %d requests, written=%s, %.2fs",
        store.key, result.rows, result.new_rows, result.gaps, result.missing_bars,
        result.requests, result.written, result.seconds,
    )  # fmt: skip
    return result


def load_candles(config: DataConfig) -> pd.DataFrame:
    """Candles for ``[config.start, config.end]`` (inclusive UTC days; None = all stored).

    Reads the store without a lock when it already holds what ``config`` asks for (so a
    read-only store works); otherwise ingests first. Stored sources (``csv-<stem>``,
    ``store:<namespace>``) are only read. With ``fill_gaps`` the frame gains a bool
    ``filled`` column and missing bars are forward-filled (volume 0). Raises DataError when
    no candle falls in the range, naming what the store holds and how to get the span.
    """
    store = open_store(config)
    if not is_stored_source(config.source) and not is_up_to_date(config, store):
        ingest_candles(config)
    frame = select_range(store.read(), config)
    if frame.empty:
        raise MissingCandlesError(describe_missing(config, store.key))
    return fill_gaps(frame, config.timeframe) if config.fill_gaps else frame


def is_up_to_date(config: DataConfig, store: CandleStore) -> bool:
    """True when the store already holds ``config``'s data, so ingesting would change nothing
    (checked without a lock: the store is replaced atomically)."""
    _check_sample(config)
    manifest = store.read_manifest()
    if manifest is None:
        return False
    if config.repair and not manifest.repair:
        return False
    if config.source == "ccxt":
        from btcrl.data.ccxt_source import requested_range

        have = manifest.coverage_ranges()
        wanted = requested_range(config, have)
        step = timeframe_ms(config.timeframe)
        return wanted[0] > wanted[1] or not subtract_ranges(wanted, have, step)
    return manifest.source_fingerprint == _source_fingerprint(config)[1]


class MissingCandlesError(DataError):
    """The store holds no candles for the requested span (the message says what it holds)."""


def describe_missing(config: DataConfig, key: StoreKey, fetch_start: date | None = None) -> str:
    """One line: no candles for ``key`` in the range, what the store holds, how to get it.

    ``fetch_start`` (before ``config.start``): the first day the caller needs, warm-up
    history included; the suggested ingest command starts there."""
    span = f"between {config.start or 'the start'} and {config.end or 'the end'}"
    if fetch_start is not None and fetch_start != config.start:
        span += f" (with warm-up history from {fetch_start})"
    stored = list_stored(config.data_dir)
    held = "; ".join(str(series) for series in stored) if stored else "nothing"
    first = fetch_start or config.start
    dates = "".join(
        f" --{name} {day}" for name, day in (("start", first), ("end", config.end)) if day
    )
    market = f"--symbol {config.symbol} --timeframe {config.timeframe}"
    command = (
        f"btcrl ingest --source ccxt --exchange {config.exchange} {market}{dates} "
        f"(or --source csv:PATH {market} for a file of yours)"
    )
    return (
        f"no {key} candles {span} in {config.data_dir}; the store holds: {held}. "
        f"Get them with: {command}"
    )


def select_range(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Rows whose open time falls in the inclusive UTC days ``[start, end]``."""
    if config.start is not None:
        frame = frame[frame.index >= pd.Timestamp(config.start, tz="UTC")]
    if config.end is not None:
        frame = frame[frame.index < pd.Timestamp(config.end, tz="UTC") + pd.Timedelta(days=1)]
    return frame


def _check_sample(config: DataConfig) -> None:
    if config.source == "sample" and config.timeframe != SAMPLE_TIMEFRAME:
        raise DataError(
            f"the bundled sample holds {SAMPLE_SYMBOL} {SAMPLE_TIMEFRAME} candles only, not "
            f"timeframe {config.timeframe!r}; use --source ccxt or csv:PATH"
        )
    if config.source == "sample" and config.symbol != SAMPLE_SYMBOL:
        raise DataError(
            f"the bundled sample holds {SAMPLE_SYMBOL} only, not symbol {config.symbol!r}; "
            "use --source ccxt or csv:PATH"
        )


def _ingest_file(config: DataConfig, store: CandleStore, previous: Manifest | None) -> IngestResult:
    """Import the bundled sample or a csv file whole."""
    source, fingerprint = _source_fingerprint(config)
    if previous is not None and previous.source_fingerprint == fingerprint:
        if not config.repair or previous.repair:
            return _unchanged(store, previous)
        log.info("%s: unchanged, imported again because repair was requested", source)
    if config.source == "sample":
        batch = load_sample()
    else:
        batch = read_csv_candles(csv_path(config.source).resolve(), config.time_column)
    clean, report = validate_candles(batch, config.timeframe, repair=config.repair, label=source)
    if clean.empty:
        raise DataError(f"{source} holds no candles")
    step = timeframe_ms(config.timeframe)
    span = (_ms(clean.index[0]), _ms(clean.index[-1]))
    coverage = merge_ranges([*(previous.coverage_ranges() if previous else []), span], step)
    return _commit(config, store, previous, clean, report, coverage, source, fingerprint)


def _source_fingerprint(config: DataConfig) -> tuple[str, str]:
    """(source label, fingerprint of the file's bytes and the named time column) of a sample
    or csv source."""
    if config.source == "sample":
        from importlib import resources

        with resources.as_file(resources.files(sample_package) / SAMPLE_FILE) as path:
            return "sample", file_fingerprint(path)
    path = csv_path(config.source).resolve()
    column = f":{config.time_column}" if config.time_column else ""  # another column: re-read
    return f"csv:{path}", file_fingerprint(path) + column


def _ingest_ccxt(
    config: DataConfig,
    store: CandleStore,
    previous: Manifest | None,
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    """Fetch the bars of the requested range that the stored coverage lacks."""
    from btcrl.data.ccxt_source import fetch_ranges, last_closed_bar, requested_range

    have = previous.coverage_ranges() if previous else []
    wanted = requested_range(config, have)
    step = timeframe_ms(config.timeframe)
    missing = subtract_ranges(wanted, have, step) if wanted[0] <= wanted[1] else []
    if not missing:
        if previous is None:
            raise DataError(f"nothing to fetch for {store.key}: the requested range is empty")
        if config.repair and not previous.repair:  # nothing new: repair what is stored
            label = f"{store.key} (stored)"
            stored = store.read()
            clean, report = validate_candles(stored, config.timeframe, repair=True, label=label)
            return _commit(config, store, previous, clean, report, have, "ccxt", None)
        return _unchanged(store, previous)
    fetched = fetch_ranges(config, missing, progress=progress)
    label = f"{config.exchange} {config.symbol} {config.timeframe}"
    clean, report = validate_candles(
        fetched.frame, config.timeframe, repair=config.repair, label=label
    )
    answered = list(missing)
    if wanted[1] >= last_closed_bar(config.timeframe) - step and answered[-1][1] == wanted[1]:
        # the newest bars may not be published yet: cover the tail only up to what came back
        newest = _ms(clean.index[-1]) if len(clean) else answered[-1][0] - step
        first, _ = answered.pop()
        if newest >= first:
            answered.append((first, newest))
    coverage = merge_ranges([*have, *answered], step)
    result = _commit(config, store, previous, clean, report, coverage, "ccxt", None)
    result.requests = fetched.requests
    result.fetched = missing
    return result


def _commit(
    config: DataConfig,
    store: CandleStore,
    previous: Manifest | None,
    batch: pd.DataFrame,
    report: ValidationReport,
    coverage: list[Range],
    source: str,
    fingerprint: str | None,
) -> IngestResult:
    """Merge ``batch`` into the stored candles and write only if the content changed."""
    old = store.read() if previous is not None else empty_candles()
    merged = pd.concat([old, batch]) if len(old) else batch
    merged = merged[~merged.index.duplicated(keep="last")].sort_index()
    merged.index.name = TIME
    if merged.empty:
        raise DataError(f"{source} returned no {store.key} candles for the requested range")
    new_rows = int((~batch.index.isin(old.index)).sum()) if len(old) else len(batch)
    step = timeframe_ms(config.timeframe)
    gaps = _gaps_within(find_gaps(merged.index, config.timeframe), coverage, step)
    manifest = Manifest(
        exchange=store.key.exchange,
        symbol=store.key.symbol,
        timeframe=store.key.timeframe,
        source=source,
        rows=len(merged),
        first_bar=_iso(merged.index[0]) if len(merged) else None,
        last_bar=_iso(merged.index[-1]) if len(merged) else None,
        content_hash=frame_hash(merged),
        fetched_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        source_fingerprint=fingerprint,
        coverage=[[a, b] for a, b in coverage],
        gaps=[gap.to_dict() for gap in gaps],
        missing_bars=sum(gap.bars for gap in gaps),
        repaired=(previous.repaired if previous else 0) + report.repaired,
        repair=config.repair,
    )
    result = IngestResult(store.key, store.path, store.manifest_path, manifest, report, new_rows)
    if (
        previous is not None
        and store.path.exists()
        and previous.content_hash == manifest.content_hash
    ):
        log.info("%s: content unchanged; parquet left as it is", store.key)
        store.write_manifest(manifest)  # coverage or fingerprint may have moved on
        return result
    store.write(merged, manifest)
    result.written = True
    return result


def _unchanged(store: CandleStore, manifest: Manifest) -> IngestResult:
    return IngestResult(store.key, store.path, store.manifest_path, manifest, None)


def _gaps_within(gaps: list[Gap], coverage: list[Range], step: int) -> list[Gap]:
    """The parts of ``gaps`` inside the covered ranges (holes between ranges are not gaps)."""
    out: list[Gap] = []
    for gap in gaps:
        first, last = _ms(gap.start), _ms(gap.end)
        for lo, hi in coverage:
            a, b = max(first, lo), min(last, hi)
            if a <= b:
                out.append(Gap(_ts(a), _ts(b), (b - a) // step + 1))
    return out


def _ms(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).value // 1_000_000)


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _iso(stamp: pd.Timestamp) -> str:
    return ms_to_iso(_ms(stamp))
