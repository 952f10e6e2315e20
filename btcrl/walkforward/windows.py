"""The FeatureSets of a segment's windows, built from candles with warm-up before them only.

Features are causal formulas today, so building them on ``candles[: stop]`` with
``warmup_bars`` of history before the window and slicing the window gives exactly what the
train and test windows may see: bars before the window warm the features up, nothing after
the window is ever loaded (tests/walkforward/test_truncation.py).
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from btcrl.config import DataConfig, FeaturesConfig
from btcrl.errors import DataError
from btcrl.features.build import build_feature_set
from btcrl.features.load import warmup_bars
from btcrl.features.spec import FeatureSet


def window_features(
    candles: pd.DataFrame,
    features: FeaturesConfig,
    data: DataConfig,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    *,
    lead_bars: int = 0,
) -> FeatureSet:
    """FeatureSet of the bars ``[start, stop)`` plus ``lead_bars`` bars before ``start``
    (a test window's starting point), built on candles from ``warmup_bars`` earlier.

    Raises DataError when the window holds fewer than 3 bars.
    """
    index = candles.index
    first = int(np.searchsorted(index, start, "left")) - lead_bars
    last = int(np.searchsorted(index, stop, "left"))
    if first < 0 or last - first < 3:
        raise DataError(
            f"window {start:%Y-%m-%d %H:%M}..{stop:%Y-%m-%d %H:%M} holds {max(last - first, 0)} "
            f"{data.timeframe} bars; the data holds {index[0]}..{index[-1]}"
        )
    history = max(0, first - warmup_bars(features, data.timeframe))
    fs = build_feature_set(
        candles.iloc[history:last],
        features,
        exchange=data.exchange,
        symbol=data.symbol,
        timeframe=data.timeframe,
        data_dir=data.data_dir,
    )
    part = fs.rows(first - history, len(fs))
    spec = replace(
        part.spec, first_bar=part.index[0].isoformat(), last_bar=part.index[-1].isoformat()
    )
    return replace(part, spec=spec)
