"""Calendar-month walk-forward segments: train (with a validation tail) | embargo | test.

All spans are half-open ``[start, stop)`` in UTC bar open times. With ``M`` = month starts
from the first full calendar month of the data:

- segment k's test window is ``[M0 + train + k*test, M0 + train + (k+1)*test)`` months, so the
  test windows tile the range without gaps or overlaps; only whole test windows that the data
  covers are kept;
- its train window ends ``embargo_bars`` bars before the test start and begins ``train_months``
  before the test start (rolling) or at ``M0`` (anchored, expanding);
- the last ``val_months`` of the train window are its validation tail: the agent learns on
  ``[train_start, val_start)`` and the checkpoint is picked on ``[val_start, train_stop)``.
"""

from dataclasses import dataclass

import pandas as pd

from btcrl.config.walkforward import WalkforwardConfig
from btcrl.errors import ConfigError

MIN_SEGMENTS = 2


@dataclass(frozen=True)
class Segment:
    """One walk-forward segment; timestamps are tz-aware UTC bar open times."""

    index: int
    train_start: pd.Timestamp
    val_start: pd.Timestamp
    train_stop: pd.Timestamp  # exclusive: the embargo (if any) starts here
    test_start: pd.Timestamp
    test_stop: pd.Timestamp  # exclusive

    def spans(self) -> dict[str, str]:
        """ISO strings of every boundary (for params, tags and segments.csv)."""
        return {
            "train_start": self.train_start.isoformat(),
            "val_start": self.val_start.isoformat(),
            "train_stop": self.train_stop.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_stop": self.test_stop.isoformat(),
        }


def _month_ceil(ts: pd.Timestamp) -> pd.Timestamp:
    start = ts.normalize().replace(day=1)
    return start if start == ts else start + pd.DateOffset(months=1)


def _month_floor(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.normalize().replace(day=1)


def make_segments(
    first_bar: pd.Timestamp,
    stop: pd.Timestamp,
    config: WalkforwardConfig,
    bar: pd.Timedelta,
) -> list[Segment]:
    """Every segment whose test window fits in ``[first_bar, stop)`` (``stop`` = the last
    bar's open + one ``bar``). Raises ConfigError when fewer than two fit, naming the range."""
    origin = _month_ceil(first_bar)
    end = _month_floor(stop)
    segments: list[Segment] = []
    embargo = bar * config.embargo_bars
    k = 0
    while True:
        test_start = origin + pd.DateOffset(months=config.train_months + k * config.test_months)
        test_stop = test_start + pd.DateOffset(months=config.test_months)
        if test_stop > end:
            break
        train_start = (
            origin if config.anchored else test_start - pd.DateOffset(months=config.train_months)
        )
        train_stop = test_start - embargo
        val_start = test_start - pd.DateOffset(months=config.val_months)
        if val_start >= train_stop:
            raise ConfigError(
                f"embargo of {config.embargo_bars} bars swallows the {config.val_months}-month "
                "validation tail"
            )
        segments.append(Segment(k, train_start, val_start, train_stop, test_start, test_stop))
        k += 1
    if len(segments) < MIN_SEGMENTS:
        need = config.train_months + MIN_SEGMENTS * config.test_months
        raise ConfigError(
            f"{len(segments)} segment(s) fit in the data {first_bar:%Y-%m-%d}..{stop:%Y-%m-%d} "
            f"(whole months {origin:%Y-%m}..{end:%Y-%m}); need at least {MIN_SEGMENTS}: "
            f"{need} months for train_months={config.train_months}, "
            f"test_months={config.test_months}"
        )
    return segments


def select_segments(segments: list[Segment], wanted: tuple[int, ...] | None) -> list[Segment]:
    """The segments with the indices in ``wanted`` (None = all); ConfigError for an unknown
    index."""
    if wanted is None:
        return list(segments)
    unknown = sorted(set(wanted) - {s.index for s in segments})
    if unknown:
        raise ConfigError(
            f"segments {unknown} do not exist: this split has segments 0..{len(segments) - 1}"
        )
    return [s for s in segments if s.index in set(wanted)]
