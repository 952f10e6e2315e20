"""The FeatureSets of a segment's windows, built from candles with warm-up before them only.

Building features on ``candles[: stop]`` with ``warmup_bars`` of history before the window
and slicing the window gives exactly what the train and test windows may see: bars before
the window warm the features up, nothing after the window is ever loaded
(tests/walkforward/test_truncation.py).

Fitted features (``features.hmm``, ``features.fracdiff``; ``btcrl.features.fitted``) are
fitted per segment, on the same rows ``btcrl train`` fits on: the train window's train split,
i.e. every loaded bar before the validation tail (``segment.val_start``), warm-up history
included; never a validation or test bar. The test window applies the segment model's
``spec.fitted`` and never refits (tests/walkforward/test_fitted_per_segment.py).
"""

import numpy as np
import pandas as pd

from btcrl.config import DataConfig, ExperimentConfig, FeaturesConfig
from btcrl.errors import DataError
from btcrl.features.fitted import FitEnd, enabled_fitted
from btcrl.features.load import build_window
from btcrl.features.spec import FeatureSet, FittedParams
from btcrl.walkforward.split import Segment


def window_features(
    candles: pd.DataFrame,
    features: FeaturesConfig,
    data: DataConfig,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    *,
    lead_bars: int = 0,
    history_bars: int = 0,
    fit_end: FitEnd | None = None,
    fitted: tuple[FittedParams, ...] | None = None,
) -> FeatureSet:
    """FeatureSet of the bars ``[start, stop)`` plus ``lead_bars`` bars before ``start``
    (a test window's starting point) and up to ``history_bars`` unobserved bars before
    those (``btcrl.features.load.build_window``), built on candles from ``warmup_bars``
    earlier.

    ``fit_end`` / ``fitted`` go to ``build_feature_set`` (fit on the loaded bars up to
    ``fit_end``, or apply given params); one of them is needed when fitted features are on.
    Raises DataError when the window holds fewer than 3 bars.
    """
    index = candles.index
    first = int(np.searchsorted(index, start, "left"))
    last = int(np.searchsorted(index, stop, "left"))
    if first - lead_bars < 0 or last - first + lead_bars < 3:
        raise DataError(
            f"window {start:%Y-%m-%d %H:%M}..{stop:%Y-%m-%d %H:%M} holds "
            f"{max(last - first + lead_bars, 0)} {data.timeframe} bars; the data holds "
            f"{index[0]}..{index[-1]}"
        )
    return build_window(
        candles,
        features,
        data,
        first,
        last,
        lead_bars=lead_bars,
        history_bars=history_bars,
        fit_end=fit_end,
        fitted=fitted,
    )


def train_window_features(
    candles: pd.DataFrame, config: ExperimentConfig, segment: Segment
) -> FeatureSet:
    """The train window ``[train_start, train_stop)`` of a job's config (``segment_config``:
    its ``train.train_end`` is the day before ``segment.val_start``). Fitted features fit up
    to the last bar of the train split, found by ``last_train_time`` exactly as
    ``btcrl train`` finds it, so validation and test bars are never fitted on."""
    from btcrl.agents.split import last_train_time  # agents pulls in torch: only when used

    train = config.train
    return window_features(
        candles,
        config.features,
        config.data,
        segment.train_start,
        segment.train_stop,
        history_bars=config.env.vol_window,
        fit_end=lambda fs: last_train_time(fs, train.split_ratio, train.train_end),
    )


def oos_window_features(
    candles: pd.DataFrame,
    config: ExperimentConfig,
    segment: Segment,
    fitted: tuple[FittedParams, ...],
    window: int = 1,
) -> FeatureSet:
    """The test window ``[test_start, test_stop)`` plus the ``window`` bars before it (the
    model's ``env.window``: its first observation ends at the bar before the test start),
    with the fitted params of the segment's model (``spec.fitted``): transform only, never
    a refit. Raises CompatibilityError when the params do not match the enabled fitted
    features."""
    given = fitted if fitted or enabled_fitted(config.features) else None
    return window_features(
        candles,
        config.features,
        config.data,
        segment.test_start,
        segment.test_stop,
        lead_bars=window,
        history_bars=config.env.vol_window,
        fitted=given,
    )
