"""The bundled real sample: Binance BTC/USDT 1h candles, 2022-01-01 .. 2025-03-31 (UTC)."""

from importlib import resources

import pandas as pd

from btcrl.data.columns import OHLCV, TIME

SAMPLE_SYMBOL = "BTC/USDT"
SAMPLE_TIMEFRAME = "1h"
SAMPLE_FILE = "BTCUSDT_1h_binance.parquet"


def load_sample() -> pd.DataFrame:
    """The bundled candles as a candle frame (see ``btcrl.data.columns``)."""
    with resources.as_file(resources.files(__name__) / SAMPLE_FILE) as path:
        frame = pd.read_parquet(path)
    frame.index.name = TIME
    return frame[list(OHLCV)].astype("float64")
