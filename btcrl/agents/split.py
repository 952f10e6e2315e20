"""The time split of a FeatureSet into a train span and a validation span (never shuffled)."""

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from btcrl.errors import DataError
from btcrl.features.spec import FeatureSet
from btcrl.tracking import tags as tag_names

MIN_SPAN_BARS = 10


@dataclass(frozen=True)
class TimeSplit:
    """Train rows ``[0, boundary)`` (warm-up rows kept, never observed) and validation rows
    ``[boundary - val_lead, len)``; both spans as FeatureSets. The ``val_lead`` rows before
    the boundary (train bars) are the validation episode's first decision bar(s) and
    unobserved history for the realised vol (``split_feature_set``'s ``lead_bars`` /
    ``history_bars``), so its first fill is at the validation span's first open."""

    train: FeatureSet
    validation: FeatureSet
    val_lead: int = 0

    @property
    def validation_span(self) -> FeatureSet:
        """The validation bars themselves, without the rows before the boundary."""
        return self.validation.rows(self.val_lead, len(self.validation))

    def tags(self) -> dict[str, str]:
        """``btcrl.train_start`` .. ``btcrl.val_end``: ISO UTC open times of the first and last
        bar of each span (train starts at its first valid row)."""
        train_times = self.train.times[self.train.first_valid :]
        return {
            tag_names.TRAIN_START: _iso(train_times[0]),
            tag_names.TRAIN_END: _iso(train_times[-1]),
            tag_names.VAL_START: _iso(self.validation.times[self.val_lead]),
            tag_names.VAL_END: _iso(self.validation.times[-1]),
        }


def _iso(ns: np.int64) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def split_feature_set(
    features: FeatureSet,
    ratio: float,
    train_end: date | None = None,
    *,
    lead_bars: int = 0,
    history_bars: int = 0,
) -> TimeSplit:
    """Split at ``train_end`` (last train UTC day, inclusive) if given, else so that ``ratio`` of
    the valid bars (after warm-up) train. The validation set keeps ``lead_bars`` observed
    rows (``env.window``: its first decision is the last train bar) and ``history_bars``
    unobserved rows before its start (:class:`TimeSplit`). Raises DataError if either span
    has < 10 bars."""
    first = features.first_valid
    valid = len(features) - first
    if valid < 2 * MIN_SPAN_BARS:
        raise DataError(f"only {valid} valid bars: too few to split into train and validation")
    if train_end is not None:
        stop = pd.Timestamp(train_end, tz="UTC") + pd.Timedelta(days=1)
        boundary = int(np.searchsorted(features.times, np.int64(stop.value), "left"))
        what = f"train_end {train_end}"
    else:
        boundary = first + int(round(valid * ratio))
        what = f"split_ratio {ratio}"
    n_train, n_val = boundary - first, len(features) - boundary
    if n_train < MIN_SPAN_BARS or n_val < MIN_SPAN_BARS:
        raise DataError(
            f"{what} leaves {max(n_train, 0)} train and {max(n_val, 0)} validation bars "
            f"(each needs at least {MIN_SPAN_BARS}); data spans "
            f"{_iso(features.times[first])} .. {_iso(features.times[-1])}"
        )
    keep = min(boundary, lead_bars + history_bars)
    validation = features.rows(boundary - keep, len(features))
    observed_from = keep - min(lead_bars, keep)
    validation = replace(validation, first_valid=max(validation.first_valid, observed_from))
    return TimeSplit(train=features.rows(0, boundary), validation=validation, val_lead=keep)


def last_train_time(
    features: FeatureSet, ratio: float, train_end: date | None = None
) -> pd.Timestamp:
    """Open time (UTC) of the last train bar of ``split_feature_set``: where fitted features
    (btcrl.features.fitted) stop fitting."""
    return pd.Timestamp(
        int(split_feature_set(features, ratio, train_end).train.times[-1]), tz="UTC"
    )
