"""Where candles come from and where they are kept."""

import re
from datetime import date
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from btcrl.config.base import Section

TIMEFRAME_PATTERN = re.compile(r"^[1-9][0-9]*[mhdw]$")
STORED_PATTERN = re.compile(r"^(csv-[^/\\\s]+|store:[A-Za-z0-9][A-Za-z0-9._-]*)$")


class DataConfig(Section):
    """Candle source, market and period. Dates are UTC calendar days; ``end`` is inclusive."""

    source: str = Field(
        "sample",
        description="sample | ccxt | csv:PATH | csv-<stem> or store:<namespace> (stored data, "
        "read as it is: nothing is fetched or imported)",
    )
    exchange: str = Field("binance", description="ccxt exchange id, e.g. binance, kraken")
    symbol: str = Field("BTC/USDT", description="market symbol as the exchange spells it in ccxt")
    timeframe: str = Field("1h", description="bar length: <n>m, <n>h, <n>d or <n>w")
    start: date | None = Field(None, description="first UTC day to use (inclusive); None = all")
    end: date | None = Field(None, description="last UTC day to use (inclusive); None = all")
    data_dir: Path = Field(Path("data"), description="root of the candle store and caches")
    time_column: str | None = Field(
        None,
        description="csv:PATH time column (its header); None = the column that parses "
        "completely, epoch s/ms preferred over ISO text",
    )
    fill_gaps: bool = Field(False, description="forward-fill missing bars, marking them filled")
    repair: bool = Field(False, description="repair minor OHLC problems instead of rejecting")
    max_retries: int = Field(5, ge=0, le=20, description="retries per request on transient faults")
    timeout_ms: int = Field(30_000, gt=0, description="HTTP timeout per exchange request, ms")
    retry_backoff_s: float = Field(
        1.0, ge=0.0, le=60.0, description="first retry delay, s; doubles per retry, +-50% jitter"
    )
    rate_limit_ms: int | None = Field(
        None, ge=0, description="ms between exchange requests (ccxt limiter); None = exchange's"
    )
    api_url: str | None = Field(
        None, description="override the exchange's REST host (http://host:port): tests, proxies"
    )
    keep_archives: int = Field(3, ge=0, le=100, description="old store versions kept in archive/")

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if value in ("sample", "ccxt") or (value.startswith("csv:") and len(value) > 4):
            return value
        if STORED_PATTERN.match(value):
            return value
        raise ValueError(
            "must be 'sample', 'ccxt', 'csv:PATH', or a stored key 'csv-<stem>' / "
            "'store:<namespace>'"
        )

    @field_validator("data_dir")
    @classmethod
    def _check_data_dir(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError("is a file, not a directory")
        return value

    @field_validator("timeframe")
    @classmethod
    def _check_timeframe(cls, value: str) -> str:
        if not TIMEFRAME_PATTERN.match(value):
            raise ValueError("must look like 1m, 15m, 1h, 4h, 1d or 1w")
        return value

    @model_validator(mode="after")
    def _check_range(self) -> "DataConfig":
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self
