"""Candles: sources (ccxt, csv, sample), validation and the parquet store.

``load_candles(config)`` is what the rest of btcrl calls; ``ingest_candles(config)`` is the
work behind ``btcrl ingest``. See docs/data.md.
"""

from btcrl.data.ingest import (
    IngestResult,
    MissingCandlesError,
    describe_missing,
    ingest_candles,
    load_candles,
    open_store,
    store_key,
)
from btcrl.data.store import StoredSeries, list_stored
from btcrl.data.validate import FILLED, Gap, ValidationReport, validate_candles

__all__ = [
    "FILLED",
    "Gap",
    "IngestResult",
    "MissingCandlesError",
    "StoredSeries",
    "ValidationReport",
    "describe_missing",
    "ingest_candles",
    "list_stored",
    "load_candles",
    "open_store",
    "store_key",
    "validate_candles",
]
