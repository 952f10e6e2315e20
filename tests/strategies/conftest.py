"""Real data for the strategy tests: Binance BTC/USDT 1h and CBOE VIX from ../shared/data."""

from pathlib import Path

import pandas as pd
import pytest

from btcrl.data.columns import OHLCV, TIME


def read_btc_csv(path: Path) -> pd.DataFrame:
    """The shared BTCUSDT 1h CSV as a candle frame (plain pandas, not btcrl.data)."""
    frame = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("datetime"), utc=True), name=TIME)
    return frame.set_index(index)[list(OHLCV)].astype("float64")


@pytest.fixture(scope="session")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    """62,482 real hourly candles, 2018-02-09 .. 2025-03-31 (25 gaps, see SOURCES.md)."""
    return read_btc_csv(shared_data / "BTCUSDT_1h_binance.csv")


@pytest.fixture(scope="session")
def vix_csv(shared_data: Path) -> Path:
    return shared_data / "VIX_daily_cboe.csv"
