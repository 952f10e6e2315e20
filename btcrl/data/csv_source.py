"""``csv:PATH``: candles from a CSV file in the usual layouts, normalised to UTC.

Accepted: columns ``open, high, low, close, volume`` in any case and order (``o, h, l, c, v``
too) and a time column holding epoch seconds / milliseconds / microseconds (told apart by
magnitude, 1973..2286) or ISO datetimes (with or without a timezone; naive ones are taken as
UTC, aware ones converted). Other columns are ignored.

The time column is the one named by ``DataConfig.time_column`` (``--time-column``), else the
best candidate that parses completely: candidates are the columns named ``time``,
``timestamp``, ``datetime``, ``date``, ``open_time``, ``open time`` or holding "time"/"date"
in their name (never a "close time"), else the first column; epoch stamps beat ISO text,
then the order of the names above. A Binance export (an unnamed index column, epoch-ms
``Open time``, a ``Date`` like ``2017-12-31_00:00:00``) thus reads by ``Open time``. The
choice is logged and kept in ``frame.attrs["time_column"]`` (the validation report shows it).
"""

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.data.columns import OHLCV, TIME
from btcrl.errors import DataError

log = logging.getLogger(__name__)

TIME_NAMES = ("time", "timestamp", "datetime", "date", "open_time", "open time", "opentime")
SHORT_NAMES = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
EPOCH_MIN_S = 1e8  # 1973-03-03: smaller integers are row numbers or counts, not stamps


def csv_path(source: str) -> Path:
    """The path in a ``csv:PATH`` source string."""
    return Path(source.removeprefix("csv:")).expanduser()


def file_fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes (first 16 hex digits); an unchanged file is not re-imported."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read csv file {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()[:16]


def read_csv_candles(path: Path, time_column: str | None = None) -> pd.DataFrame:
    """Parse ``path`` into a candle frame (UTC index ``time``, float64 OHLCV), rows as in the file.

    ``time_column`` names the column of bar open times (None: chosen as the module says).
    Raises DataError in one line naming the file and what is wrong (unreadable, no time
    column, missing OHLCV columns, unparsable stamps or numbers).
    """
    try:
        raw = (
            pd.read_csv(path, sep=None, engine="python")
            if _sniff_needed(path)
            else pd.read_csv(path)
        )
    except FileNotFoundError:
        raise DataError(f"cannot read csv file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read csv file {path}: {exc}".splitlines()[0]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"csv file {path} is malformed: {exc}".splitlines()[0]) from None
    if raw.empty:
        raise DataError(f"csv file {path} has no rows")
    columns = {str(name).strip().lower(): name for name in raw.columns}
    for short, full in SHORT_NAMES.items():
        if short in columns and full not in columns:
            columns[full] = columns.pop(short)
    missing = [name for name in OHLCV if name not in columns]
    if missing:
        raise DataError(
            f"csv file {path} lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, raw.columns))}"
        )
    ohlcv = {columns[name] for name in OHLCV}
    index, how = _time_index(raw, ohlcv, path, time_column)
    log.info("csv file %s: bar open times from column %s", path, how)
    values = {}
    for name in OHLCV:
        column = raw[columns[name]]
        if pd.api.types.is_float_dtype(column):
            values[name] = column.to_numpy(dtype="float64")
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna() & column.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"csv file {path} is malformed: column {columns[name]} row {row + 2} "
                f"holds {column.iloc[row]!r}, not a number"
            )
        values[name] = numbers.to_numpy(dtype="float64")
    frame = pd.DataFrame(values, index=index)
    frame.attrs["time_column"] = how
    return frame


def _time_index(
    raw: pd.DataFrame, ohlcv: set[object], path: Path, time_column: str | None
) -> tuple[pd.DatetimeIndex, str]:
    """The parsed stamps and a label like ``'Open time' (epoch ms)``."""
    if time_column is not None:
        match = [c for c in raw.columns if str(c).strip().lower() == time_column.strip().lower()]
        if not match:
            raise DataError(
                f"csv file {path} has no column {time_column!r} (data.time_column); "
                f"found {', '.join(map(str, raw.columns))}"
            )
        stamps, kind = _parse_times(raw[match[0]], path, str(match[0]))
        return stamps, f"{str(match[0])!r} ({kind})"
    candidates = _time_candidates(raw, ohlcv)
    if not candidates:
        raise DataError(f"csv file {path} has no time column (tried {', '.join(TIME_NAMES)})")
    parsed: list[tuple[int, int, pd.DatetimeIndex, str]] = []
    failures: list[str] = []
    for rank, name in candidates:
        try:
            stamps, kind = _parse_times(raw[name], path, str(name))
        except DataError:
            if len(candidates) == 1:
                raise
            failures.append(f"{str(name)!r} (first value {str(raw[name].iloc[0])!r})")
            continue
        epoch_first = 0 if kind.startswith("epoch") else 1
        parsed.append((epoch_first, rank, stamps, f"{str(name)!r} ({kind})"))
    if not parsed:
        raise DataError(
            f"csv file {path}: no column parses completely as bar open times "
            f"({'; '.join(failures)}); name one with --time-column"
        )
    _, _, stamps, how = min(parsed, key=lambda item: item[:2])
    return stamps, how


def _time_candidates(raw: pd.DataFrame, ohlcv: set[object]) -> list[tuple[int, object]]:
    """(preference rank, column) of the columns that may hold bar open times."""
    out: list[tuple[int, object]] = []
    for column in raw.columns:
        name = str(column).strip().lower()
        if column in ohlcv or "close" in name:
            continue
        if name in TIME_NAMES:
            out.append((TIME_NAMES.index(name), column))
        elif "time" in name or "date" in name:
            out.append((len(TIME_NAMES), column))
    if not out and raw.columns[0] not in ohlcv:
        out.append((len(TIME_NAMES) + 1, raw.columns[0]))
    return out


def _sniff_needed(path: Path) -> bool:
    """True when the header does not use commas (``;`` or tab separated files)."""
    try:
        with path.open() as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return "," not in header and (";" in header or "\t" in header)


def _parse_times(column: pd.Series, path: Path, name: str) -> tuple[pd.DatetimeIndex, str]:
    """Stamps of a whole column and how they were read (``epoch ms``, ``ISO text``)."""
    if column.isna().any():
        row = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise DataError(f"csv file {path} is malformed: empty {name} in row {row + 2}")
    numeric = column if pd.api.types.is_numeric_dtype(column) else None
    if numeric is None and column.astype(str).str.fullmatch(r"\s*\d+(\.0*)?\s*").all():
        numeric = pd.to_numeric(column, errors="coerce")  # epoch stamps read as text
    try:
        if numeric is not None and numeric.notna().all():
            if float(numeric.abs().min()) < EPOCH_MIN_S or (numeric % 1 != 0).any():
                raise ValueError("numbers that are not epoch stamps after 1973")
            unit = _epoch_unit(numeric)
            stamps = pd.to_datetime(numeric.astype("int64"), unit=unit, utc=True)
            kind = f"epoch {unit}"
        else:
            stamps = pd.to_datetime(column.astype(str).str.strip(), utc=True, format="ISO8601")
            kind = "ISO text"
    except (ValueError, TypeError, OverflowError) as exc:
        first = str(column.iloc[0])
        reason = str(exc).splitlines()[0].split(". You might")[0].rstrip(".")
        raise DataError(
            f"csv file {path} is malformed: column {name} (first value {first!r}) is not "
            f"ISO datetimes or epoch seconds/milliseconds ({reason})"
        ) from None
    return pd.DatetimeIndex(stamps, name=TIME).as_unit("us"), kind


def _epoch_unit(values: pd.Series) -> str:
    """Seconds, ms, us or ns, from the magnitude (dates between 1973 and 2286)."""
    top = float(values.abs().max())
    if top < 1e11:
        return "s"
    if top < 1e14:
        return "ms"
    if top < 1e17:
        return "us"
    return "ns"
