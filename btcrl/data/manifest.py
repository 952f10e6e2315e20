"""The manifest of one stored candle series, and the range arithmetic of incremental fetches.

Ranges are closed intervals of bar open times in epoch milliseconds: ``(first, last)``.
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

Range = tuple[int, int]
MANIFEST_VERSION = 1


@dataclass
class Manifest:
    """What a store file holds and where it came from.

    ``coverage`` lists the ranges (ms, inclusive bar open times) the source has answered for:
    bars missing inside coverage are real gaps (exchange outages), never fetched again; bars
    outside coverage are fetched on demand. ``gaps`` are those real gaps, as ISO ranges.
    """

    exchange: str
    symbol: str
    timeframe: str
    source: str
    rows: int = 0
    first_bar: str | None = None
    last_bar: str | None = None
    content_hash: str = ""
    fetched_at: str = ""
    source_fingerprint: str | None = None
    coverage: list[list[int]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    missing_bars: int = 0
    repaired: int = 0
    repair: bool = False  # the last import ran with DataConfig.repair (a re-import repairs)
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        """Pretty JSON text (what ``<timeframe>.manifest.json`` holds)."""
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        """Parse JSON text written by ``to_json``; unknown keys are ignored."""
        raw = json.loads(text)
        known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        return cls(**known)

    def coverage_ranges(self) -> list[Range]:
        """``coverage`` as a list of ``(first_ms, last_ms)`` tuples."""
        return [(int(a), int(b)) for a, b in self.coverage]


def merge_ranges(ranges: list[Range], step_ms: int) -> list[Range]:
    """Union of ranges; ranges that touch (next bar follows) are joined."""
    merged: list[Range] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + step_ms:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def subtract_ranges(wanted: Range, have: list[Range], step_ms: int) -> list[Range]:
    """The parts of ``wanted`` not covered by ``have`` (all on the same bar grid)."""
    missing: list[Range] = []
    cursor, end = wanted
    for first, last in merge_ranges(have, step_ms):
        if last < cursor or first > end:
            continue
        if first > cursor:
            missing.append((cursor, first - step_ms))
        cursor = max(cursor, last + step_ms)
        if cursor > end:
            break
    if cursor <= end:
        missing.append((cursor, end))
    return missing


def ms_to_iso(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SSZ``."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
