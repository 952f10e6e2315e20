"""Where a study may look: K inner walk-forward folds before a held-back final window.

With ``E`` the first month start after the last bar (whole months only), the held-back
window is ``[E - holdout_months, E)`` months; tuning never loads a bar of it. The inner
folds are the last ``tune.inner_folds`` segments of :func:`btcrl.walkforward.make_segments`
(the ``walkforward`` section's train/validation/test months, embargo, anchoring) over the
bars before the held-back window, with the split's first month moved forward so that the
last fold's test window ends exactly where the held-back window starts (the months that do
not fill a whole test window are dropped at the old end, not the recent one). The final
model is retrained on every bar before the window (its last ``val_months`` as the
validation tail) and tested once on it.
"""

from dataclasses import dataclass

import pandas as pd

from btcrl.config import ExperimentConfig
from btcrl.data.timeframes import timeframe_timedelta
from btcrl.errors import ConfigError
from btcrl.walkforward import Segment, make_segments


@dataclass(frozen=True)
class InnerSplit:
    """The inner folds, the held-back segment (None when ``holdout_months`` is 0) and the
    end of the tuning data (exclusive, UTC; the held-back window's start)."""

    folds: tuple[Segment, ...]
    heldback: Segment | None
    tuning_stop: pd.Timestamp


def _month_floor(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.normalize().replace(day=1)


def _aligned_start(
    first: pd.Timestamp, stop: pd.Timestamp, config: ExperimentConfig
) -> pd.Timestamp:
    """The first bar time to split from, so whole test windows tile up to ``stop``."""
    origin = _month_floor(first)
    origin = origin if origin == first else origin + pd.DateOffset(months=1)
    months = (stop.year - origin.year) * 12 + stop.month - origin.month
    spare = (months - config.walkforward.train_months) % config.walkforward.test_months
    return first if spare == 0 else origin + pd.DateOffset(months=spare)


def heldback_start(index: pd.DatetimeIndex, config: ExperimentConfig) -> pd.Timestamp:
    """Start of the held-back window (the bar after the last one when there is none)."""
    bar = timeframe_timedelta(config.data.timeframe)
    stop = index[-1] + bar
    months = config.tune.holdout_months
    if months == 0:
        return stop
    start = _month_floor(stop) - pd.DateOffset(months=months)
    if start <= index[0]:
        raise ConfigError(
            f"tune.holdout_months={months} holds back all the data "
            f"{index[0]:%Y-%m-%d}..{index[-1]:%Y-%m-%d}"
        )
    return start


def inner_split(index: pd.DatetimeIndex, config: ExperimentConfig, folds: bool) -> InnerSplit:
    """The split of candles with open times ``index``; ``folds``: also the inner folds
    (the walkforward objective). ConfigError, naming the numbers, when fewer than
    ``tune.inner_folds`` folds fit before the held-back window."""
    tune, wf = config.tune, config.walkforward
    bar = timeframe_timedelta(config.data.timeframe)
    stop = heldback_start(index, config)
    inner: tuple[Segment, ...] = ()
    if folds:
        try:
            segments = make_segments(_aligned_start(index[0], stop, config), stop, wf, bar)
        except ConfigError as exc:
            raise ConfigError(f"tune inner folds before {stop:%Y-%m-%d}: {exc}") from None
        if len(segments) < tune.inner_folds:
            raise ConfigError(
                f"tune.inner_folds={tune.inner_folds} but only {len(segments)} fold(s) of "
                f"{wf.train_months}+{wf.test_months} months fit in "
                f"{index[0]:%Y-%m-%d}..{stop:%Y-%m-%d} (before the {tune.holdout_months}-month "
                "held-back window); lower walkforward.train_months or tune.inner_folds"
            )
        inner = tuple(segments[-tune.inner_folds :])
    heldback = None
    if tune.holdout_months:
        end = stop + pd.DateOffset(months=tune.holdout_months)
        val_start = stop - pd.DateOffset(months=wf.val_months)
        heldback = Segment(len(inner), index[0], val_start, stop, stop, end)
    return InnerSplit(inner, heldback, stop)
