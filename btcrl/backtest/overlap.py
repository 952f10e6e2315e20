"""Does a backtest span overlap the spans a model was trained and validated on?"""

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from btcrl.tracking import tags as tag_names

SPAN_TAGS = (
    ("train", tag_names.TRAIN_START, tag_names.TRAIN_END),
    ("validation", tag_names.VAL_START, tag_names.VAL_END),
)


@dataclass(frozen=True)
class Overlap:
    """One overlapping span: which (train | validation), and the shared bars' first and last
    open times (UTC)."""

    span: str
    start: pd.Timestamp
    end: pd.Timestamp

    def describe(self) -> str:
        return f"{self.span} span (shared bars {self.start.isoformat()} .. {self.end.isoformat()})"


def _stamp(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def find_overlaps(start: pd.Timestamp, end: pd.Timestamp, tags: Mapping[str, str]) -> list[Overlap]:
    """Spans in ``tags`` (a source run's ``btcrl.train_*`` / ``btcrl.val_*`` bar open times,
    ISO UTC) that share bars with [start, end] (bar open times, inclusive).

    Returns the shared stretch of each overlapping span; spans whose tags are missing or
    unparsable are skipped (see :func:`missing_spans`).
    """
    lo, hi = _stamp(start), _stamp(end)
    if hi < lo:
        raise ValueError(f"backtest span ends ({hi}) before it starts ({lo})")
    found = []
    for name, start_tag, end_tag in SPAN_TAGS:
        try:
            s, e = _stamp(tags[start_tag]), _stamp(tags[end_tag])
        except (KeyError, ValueError, TypeError):
            continue
        if s <= hi and lo <= e:
            found.append(Overlap(name, max(s, lo), min(e, hi)))
    return found


def missing_spans(tags: Mapping[str, str]) -> list[str]:
    """Names of the spans (train, validation) the tags do not describe."""
    out = []
    for name, start_tag, end_tag in SPAN_TAGS:
        try:
            _stamp(tags[start_tag])
            _stamp(tags[end_tag])
        except (KeyError, ValueError, TypeError):
            out.append(name)
    return out


def model_spans(
    source_tags: Mapping[str, str], spec_first: str | None, spec_last: str | None
) -> dict[str, str]:
    """The span tags to check against: the source run's ``btcrl.train_*`` / ``btcrl.val_*``;
    without any of them, the span of the data the model's FeatureSpec was built on (as the
    training span)."""
    spans = dict(source_tags)
    if missing_spans(spans) and spec_first and spec_last:
        spans.setdefault(tag_names.TRAIN_START, spec_first)
        spans.setdefault(tag_names.TRAIN_END, spec_last)
    return spans


def in_sample_message(period: str, overlaps: list[Overlap]) -> str:
    """One line saying that the backtest period shares bars with the model's spans."""
    text = "; ".join(o.describe() for o in overlaps)
    return f"IN-SAMPLE: backtest period {period} overlaps the model's {text}"
