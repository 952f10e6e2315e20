"""Candle validation with a report: what is wrong, where, and what was repaired.

Problem classes and how each is treated (``DataConfig.repair`` only changes the minor ones):

=========================  ========  ====================================================
problem                    severity  treatment
=========================  ========  ====================================================
NaN or non-positive price  severe    reject the batch (DataError)
infinite price or volume   severe    reject the batch
implausible price          severe    reject the batch: a price 10x above or below the median
                                     close of the 25 bars around it, or a bar range 100x the
                                     median range there and over 25% of the price
NaN or negative volume     severe    reject the batch
high below low             severe    reject the batch
off-grid timestamp         severe    reject the batch (a stamp not on the timeframe grid);
                                     with ``repair``, stamps that all share one constant
                                     offset from the grid (an export shifted by 5 minutes)
                                     are snapped back onto it, and the report says so
conflicting duplicates     severe    reject the batch (one stamp, different values)
exact duplicate rows       minor     always dropped (they carry no information), reported
high below open/close or   minor     reported and kept; with ``repair`` high/low are widened
low above open/close                 to bracket open and close
unsorted rows              minor     always sorted (lossless), reported
gaps (missing bars)        info      listed as ranges, never filled here; see ``fill_gaps``
=========================  ========  ====================================================
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, FILLED, HIGH, LOW, OHLCV, OPEN, TIME, VOLUME
from btcrl.data.timeframes import timeframe_seconds
from btcrl.errors import DataError

log = logging.getLogger(__name__)


MAX_EXAMPLES = 3
_NS = 1_000_000_000
_WEEK_OFFSET_NS = 4 * 86_400 * _NS  # weekly bars open on Mondays; 1970-01-01 was a Thursday

#: a price this many times above (or below) the median close of the bars around it is
#: implausible; so is a bar range RANGE_FACTOR times their median range (and over
#: RANGE_FRACTION of the price)
IMPLAUSIBLE_FACTOR = 10.0
RANGE_FACTOR = 100.0
RANGE_FRACTION = 0.25
#: bars around a bar (centred) whose median close and range judge it; fewer than
#: NEIGHBOURS_MIN finite bars: not judged
NEIGHBOURS = 25
NEIGHBOURS_MIN = 5

SEVERE = (
    "nan_prices",
    "nonpositive_prices",
    "nonfinite_prices",
    "implausible_prices",
    "nan_volume",
    "nonfinite_volume",
    "negative_volume",
    "high_below_low",
    "off_grid",
    "conflicting_duplicates",
)
MINOR = ("duplicates", "ohlc_inconsistent", "unsorted")


@dataclass(frozen=True)
class Gap:
    """A run of missing bars: open times of the first and last missing bar, and their count."""

    start: pd.Timestamp
    end: pd.Timestamp
    bars: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form (ISO UTC stamps)."""
        return {"start": _iso(self.start), "end": _iso(self.end), "bars": self.bars}


@dataclass
class ValidationReport:
    """Counts per problem class, the gaps, and the first offending rows of each class."""

    timeframe: str
    rows_in: int = 0
    rows_out: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    repaired: int = 0
    gaps: list[Gap] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)
    time_column: str | None = None  # csv sources: the column the stamps came from, and how
    repair_note: str | None = None  # why a requested repair changed nothing

    @property
    def missing_bars(self) -> int:
        """Bars missing inside the span, summed over all gaps."""
        return sum(gap.bars for gap in self.gaps)

    @property
    def severe(self) -> dict[str, int]:
        """Severe problem classes that occurred, with their counts."""
        return {name: self.counts[name] for name in SEVERE if self.counts.get(name)}

    @property
    def minor(self) -> dict[str, int]:
        """Minor problem classes that occurred, with their counts."""
        return {name: self.counts[name] for name in MINOR if self.counts.get(name)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as logged to MLflow (``validation_report.json``)."""
        return {
            "timeframe": self.timeframe,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "counts": {name: self.counts.get(name, 0) for name in (*SEVERE, *MINOR)},
            "repaired": self.repaired,
            "gaps": len(self.gaps),
            "missing_bars": self.missing_bars,
            "gap_ranges": [gap.to_dict() for gap in self.gaps],
            "examples": self.examples,
            "time_column": self.time_column,
            "repair_note": self.repair_note,
        }

    def findings(self) -> str:
        """One line: rows in/out, each problem class found with its count and first row."""
        parts = [f"{self.rows_in:,} rows read, {self.rows_out:,} kept"]
        for name in (*SEVERE, *MINOR):
            if self.counts.get(name):
                first = self.examples.get(name, [""])[0]
                parts.append(f"{self.counts[name]} {name.replace('_', ' ')} (first: {first})")
        if self.repaired:
            parts.append(f"{self.repaired} bars repaired")
        if self.repair_note:
            parts.append(self.repair_note)
        return "; ".join(parts)

    def describe_severe(self, label: str) -> str:
        """One line: the severe counts and the first offending rows."""
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in self.severe.items())
        rows = "; ".join(row for name in self.severe for row in self.examples.get(name, [])[:1])
        hint = f" (is the timeframe {self.timeframe!r} right?)" if "off_grid" in self.severe else ""
        column = f" (time column {self.time_column})" if self.time_column else ""
        return (
            f"{label} rejected{column}: {counts}{hint}; first offending rows: {rows} "
            f"({self.rows_in:,} rows read; data.repair never fixes these, only high/low "
            "that do not bracket open/close)"
        )


def validate_candles(
    frame: pd.DataFrame, timeframe: str, *, repair: bool = False, label: str = "candles"
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check a candle batch; return it sorted, de-duplicated (and repaired) with a report.

    ``frame`` has a UTC DatetimeIndex of bar open times and the OHLCV columns (any order of
    rows). Raises DataError naming counts and first offending rows when a severe problem is
    found. Minor OHLC inconsistencies are repaired only when ``repair`` is True.
    """
    report = ValidationReport(timeframe=timeframe, rows_in=len(frame))
    report.time_column = frame.attrs.get("time_column")  # set by read_csv_candles
    step_ns = timeframe_seconds(timeframe) * _NS
    data = frame[list(OHLCV)].astype("float64")
    if not data.index.is_monotonic_increasing:
        _count_unsorted(data, report)
        data = data.sort_index(kind="stable")
    if repair:
        data = _snap_offset(data, step_ns, _grid_offset(timeframe), report)
    data = _drop_duplicates(data, report)
    _check_values(data, report)
    _check_grid(data, step_ns, _grid_offset(timeframe), report)
    if report.severe:
        raise DataError(report.describe_severe(label))
    data = _check_ohlc(data, report, repair=repair)
    report.gaps = find_gaps(data.index, timeframe)
    report.rows_out = len(data)
    if repair and not report.repaired and not report.repair_note:
        report.repair_note = (
            "repair requested but nothing to repair: no bar has high/low outside open/close "
            "and no stamp is off the grid"
        )
        log.warning("%s: %s", label, report.repair_note)
    if report.minor:
        log.warning("%s: %s", label, report.findings())
    return data, report


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> list[Gap]:
    """Missing bars between consecutive stamps of a sorted, on-grid index, as ranges."""
    if len(index) < 2:
        return []
    step_ns = timeframe_seconds(timeframe) * _NS
    times = index.as_unit("ns").asi8
    deltas = np.diff(times)
    where = np.flatnonzero(deltas > step_ns)
    return [
        Gap(
            start=pd.Timestamp(times[i] + step_ns, tz="UTC"),
            end=pd.Timestamp(times[i + 1] - step_ns, tz="UTC"),
            bars=int(deltas[i] // step_ns) - 1,
        )
        for i in where
    ]


def fill_gaps(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Forward-fill missing bars: price = previous close, volume 0, ``filled`` = True.

    Returns a copy with the bool column ``filled`` (False for real bars). Never applied to
    the store; only to frames handed out when ``DataConfig.fill_gaps`` is set.
    """
    out = frame.copy()
    out[FILLED] = False
    if len(frame) < 2:
        return out
    grid = pd.date_range(
        frame.index[0],
        frame.index[-1],
        freq=pd.Timedelta(seconds=timeframe_seconds(timeframe)),
        name=TIME,
    )
    out = out.reindex(grid.as_unit(frame.index.unit))
    missing = out[FILLED].isna().to_numpy()
    if not missing.any():
        out[FILLED] = out[FILLED].astype(bool)
        return out
    prev_close = out[CLOSE].ffill()
    for column in (OPEN, HIGH, LOW, CLOSE):
        out.loc[missing, column] = prev_close[missing]
    out.loc[missing, VOLUME] = 0.0
    out[FILLED] = missing
    return out


def _grid_offset(timeframe: str) -> int:
    return _WEEK_OFFSET_NS if timeframe.endswith("w") else 0


def _drop_duplicates(data: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    dup_stamp = data.index.duplicated(keep=False)
    if not dup_stamp.any():
        return data
    # exact duplicates (same stamp, same values; NaN equal to NaN) carry no information
    with_time = data.reset_index()
    exact = with_time.duplicated(keep="first").to_numpy()
    report.counts["duplicates"] = int(exact.sum())
    _examples(report, "duplicates", data[exact])
    data = data[~exact]
    conflicting = data.index.duplicated(keep=False)
    if conflicting.any():
        report.counts["conflicting_duplicates"] = int(data.index[conflicting].nunique())
        _examples(report, "conflicting_duplicates", data[conflicting])
    return data


def _count_unsorted(data: pd.DataFrame, report: ValidationReport) -> None:
    """Count the rows that open before the row above them; the first one is the example."""
    times = data.index.as_unit("ns").asi8
    back = np.flatnonzero(np.diff(times) < 0) + 1
    report.counts["unsorted"] = len(back)
    _examples(report, "unsorted", data.iloc[back])


def _snap_offset(
    data: pd.DataFrame, step_ns: int, offset_ns: int, report: ValidationReport
) -> pd.DataFrame:
    """With ``repair``: when every off-grid stamp sits at one constant offset from the grid
    (an export stamped 5 minutes late), move those stamps back onto the grid and note it."""
    times = data.index.as_unit("ns").asi8
    shift = (times - offset_ns) % step_ns
    off = shift != 0
    if not off.any() or len(np.unique(shift[off])) != 1:
        return data
    delta = int(shift[off][0])
    snapped = np.where(off, times - delta, times)
    index = pd.DatetimeIndex(pd.to_datetime(snapped, utc=True), name=data.index.name)
    data = data.set_axis(index.as_unit(data.index.unit), axis=0)
    report.repaired += int(off.sum())
    report.repair_note = (
        f"{int(off.sum()):,} stamps {_duration(delta)} off the grid snapped back onto it"
    )
    log.warning("%s", report.repair_note)
    return data.sort_index(kind="stable")


def _check_values(data: pd.DataFrame, report: ValidationReport) -> None:
    prices = data[[OPEN, HIGH, LOW, CLOSE]].to_numpy()
    volume = data[VOLUME].to_numpy()
    checks = {
        "nan_prices": np.isnan(prices).any(axis=1),
        "nonpositive_prices": (prices <= 0).any(axis=1),
        "nonfinite_prices": np.isinf(prices).any(axis=1),
        "implausible_prices": _implausible(data),
        "nan_volume": np.isnan(volume),
        "nonfinite_volume": np.isinf(volume),
        "negative_volume": volume < 0,
        "high_below_low": data[HIGH].to_numpy() < data[LOW].to_numpy(),
    }
    for name, mask in checks.items():
        if mask.any():
            report.counts[name] = int(mask.sum())
            _examples(report, name, data[mask])


def _implausible(data: pd.DataFrame) -> np.ndarray:
    """Finite bars whose prices are :data:`IMPLAUSIBLE_FACTOR` times off the median close of
    the :data:`NEIGHBOURS` bars around them, or whose range is :data:`RANGE_FACTOR` times
    their median range and over :data:`RANGE_FRACTION` of that close (``high=1e308``)."""
    prices = data[[OPEN, HIGH, LOW, CLOSE]].to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(prices).all(axis=1) & (prices > 0).all(axis=1)
        close = data[CLOSE].where(finite)
        spread = (data[HIGH] - data[LOW]).where(finite)
        window = {"window": NEIGHBOURS, "center": True, "min_periods": NEIGHBOURS_MIN}
        median = close.rolling(**window).median().to_numpy()
        median_range = spread.rolling(**window).median().to_numpy()
        high, low = data[HIGH].to_numpy(), data[LOW].to_numpy()
        off = (high > median * IMPLAUSIBLE_FACTOR) | (low < median / IMPLAUSIBLE_FACTOR)
        wide = (spread.to_numpy() > RANGE_FACTOR * median_range) & (
            spread.to_numpy() > RANGE_FRACTION * median
        )
    return finite & ~np.isnan(median) & (off | wide)


def _check_grid(data: pd.DataFrame, step_ns: int, offset_ns: int, report: ValidationReport) -> None:
    times = data.index.as_unit("ns").asi8
    off = (times - offset_ns) % step_ns != 0
    if off.any():
        report.counts["off_grid"] = int(off.sum())
        _examples(report, "off_grid", data[off])


def _check_ohlc(data: pd.DataFrame, report: ValidationReport, *, repair: bool) -> pd.DataFrame:
    body_high = np.maximum(data[OPEN].to_numpy(), data[CLOSE].to_numpy())
    body_low = np.minimum(data[OPEN].to_numpy(), data[CLOSE].to_numpy())
    bad = (data[HIGH].to_numpy() < body_high) | (data[LOW].to_numpy() > body_low)
    if not bad.any():
        return data
    report.counts["ohlc_inconsistent"] = int(bad.sum())
    _examples(report, "ohlc_inconsistent", data[bad])
    if not repair:
        return data
    data = data.copy()
    data[HIGH] = np.maximum(data[HIGH].to_numpy(), body_high)
    data[LOW] = np.minimum(data[LOW].to_numpy(), body_low)
    report.repaired += int(bad.sum())
    return data


def _examples(report: ValidationReport, name: str, rows: pd.DataFrame) -> None:
    report.examples[name] = [
        _row_text(stamp, row) for stamp, row in rows.head(MAX_EXAMPLES).iterrows()
    ]


def _row_text(stamp: pd.Timestamp, row: pd.Series) -> str:
    values = " ".join(f"{col}={row[col]:g}" for col in OHLCV)
    return f"{_iso(stamp)} {values}"


def _duration(ns: int) -> str:
    """``5 min``, ``30 s``, ``2 h``: the largest unit that divides ``ns``."""
    for unit, size in (("h", 3600 * _NS), ("min", 60 * _NS), ("s", _NS), ("ms", 1_000_000)):
        if ns % size == 0:
            return f"{ns // size} {unit}"
    return f"{ns} ns"


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")
