"""Simple, causal test features over real or synthetic candles (not the real builder)."""

import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN, VOLUME
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec

SMA_WINDOW = 24


def simple_feature_set(candles: pd.DataFrame, timeframe: str = "1h") -> FeatureSet:
    """OHLC / close, one-bar log return, close / SMA(24) - 1 and scaled log1p(volume).

    Every column at row t uses rows <= t only; the first SMA_WINDOW - 1 rows are warm-up.
    """
    close = candles[CLOSE].to_numpy()
    sma = candles[CLOSE].rolling(SMA_WINDOW).mean().to_numpy()
    log_ret = np.concatenate([[np.nan], np.diff(np.log(close))])
    columns = {
        "open_ratio": candles[OPEN].to_numpy() / close - 1.0,
        "high_ratio": candles[HIGH].to_numpy() / close - 1.0,
        "low_ratio": candles[LOW].to_numpy() / close - 1.0,
        "log_return": log_ret * 100.0,
        "sma_ratio": close / sma - 1.0,
        "log_volume": np.log1p(candles[VOLUME].to_numpy()) / 10.0,
    }
    specs = tuple(
        ColumnSpec(name, "price" if "ratio" in name else "indicator", "test") for name in columns
    )
    spec = FeatureSpec(exchange="test", symbol="BTC/USDT", timeframe=timeframe, columns=specs)
    values = np.column_stack(list(columns.values())).astype(np.float32)
    prices = candles[[OPEN, HIGH, LOW, CLOSE]].to_numpy(dtype=np.float64)
    return FeatureSet(
        spec=spec,
        times=candles.index.as_unit("ns").asi8.copy(),
        prices=np.ascontiguousarray(prices),
        volume=candles[VOLUME].to_numpy(dtype=np.float64),
        features=np.ascontiguousarray(values),
        first_valid=SMA_WINDOW - 1,
    )


def price_feature_set(prices: np.ndarray) -> FeatureSet:
    """A FeatureSet over hand-written (T, 4) OHLC rows, one constant feature, first_valid 0."""
    prices = np.asarray(prices, dtype=np.float64)
    n = prices.shape[0]
    spec = FeatureSpec(
        exchange="test",
        symbol="BTC/USDT",
        timeframe="1h",
        columns=(ColumnSpec("one", "indicator", "test"),),
    )
    times = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC").as_unit("ns").asi8
    return FeatureSet(
        spec=spec,
        times=times.copy(),
        prices=np.ascontiguousarray(prices),
        volume=np.ones(n),
        features=np.ones((n, 1), dtype=np.float32),
        first_valid=0,
    )
