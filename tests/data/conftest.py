"""Fixtures of the data tests: the real Binance 1h file and a fake Binance REST server."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fake_binance import FakeBinance

from btcrl.config import DataConfig
from btcrl.data.csv_source import read_csv_candles

BINANCE_1H = "BTCUSDT_1h_binance.csv"


@pytest.fixture(scope="session")
def binance_1h(shared_data: Path) -> pd.DataFrame:
    """The real Binance spot BTC/USDT 1h extract: 2023 H1, 4,343 rows, one gap."""
    return read_csv_candles(shared_data / BINANCE_1H)


@pytest.fixture
def fake_binance(binance_1h: pd.DataFrame) -> Iterator[FakeBinance]:
    """A fake Binance on 127.0.0.1 serving the real 1h file; stops after the test."""
    with FakeBinance(binance_1h, lifetime_s=120) as fake:
        yield fake


@pytest.fixture
def ccxt_config(fake_binance: FakeBinance, tmp_path: Path) -> Callable[..., DataConfig]:
    """DataConfig factory for the real ccxt client pointed at the fake server (fast retries)."""

    def make(**fields: Any) -> DataConfig:
        base: dict[str, Any] = {
            "source": "ccxt",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "data_dir": tmp_path / "data",
            "api_url": fake_binance.url,
            "rate_limit_ms": 1,
            "retry_backoff_s": 0.01,
            "max_retries": 3,
            "timeout_ms": 2000,
        }
        base.update(fields)
        return DataConfig(**base)

    return make
