"""Noise-free synthetic feature sets for agent tests (importable: ``from agent_data import``)."""

import numpy as np
import pandas as pd

from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec


def sine_feature_set(
    n: int = 3000, period: int = 48, amplitude: float = 0.05, start: str = "2024-01-01"
) -> FeatureSet:
    """A clean sine price (period in bars) whose phase is observed as sin/cos features.

    Knowing the phase at the close of bar t tells the direction of the next bars exactly, so
    the right policy (long on the way up, short on the way down) is obvious.
    """
    t = np.arange(n + 1, dtype=np.float64)
    level = 30_000.0 * (1.0 + amplitude * np.sin(2.0 * np.pi * t / period))
    open_, close = level[:-1], level[1:]
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    phase = 2.0 * np.pi * t[1:] / period
    features = np.stack([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)
    times = pd.date_range(start, periods=n, freq="1h", tz="UTC").as_unit("ns").asi8
    spec = FeatureSpec(
        exchange="synthetic",
        symbol="SINE/USD",
        timeframe="1h",
        columns=(
            ColumnSpec("phase_sin", "indicator", "none"),
            ColumnSpec("phase_cos", "indicator", "none"),
        ),
        data_hash="sine",
        first_bar=str(pd.Timestamp(times[0], tz="UTC")),
        last_bar=str(pd.Timestamp(times[-1], tz="UTC")),
    )
    return FeatureSet(
        spec=spec,
        times=times.astype(np.int64),
        prices=np.stack([open_, high, low, close], axis=1),
        volume=np.ones(n),
        features=features,
        first_valid=0,
    )


def sine_candles(n: int = 4000, period: int = 48, amplitude: float = 0.05) -> pd.DataFrame:
    """Hourly candles of a clean sine (no noise): open/close on the curve, a thin wick."""
    t = np.arange(n + 1, dtype=np.float64)
    level = 30_000.0 * (1.0 + amplitude * np.sin(2.0 * np.pi * t / period))
    open_, close = level[:-1], level[1:]
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": np.full(n, 10.0),
        },
        index=index,
    )
