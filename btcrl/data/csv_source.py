"""``csv:PATH``: candles from a CSV file in the usual layouts, normalised to UTC.

Accepted: a time column named ``time``, ``timestamp``, ``datetime``, ``date``, ``open_time``
or ``open time`` (any case; else the first column), holding ISO datetimes (with or without
a timezone; naive ones are taken as UTC, aware ones converted) or epoch seconds /
milliseconds / microseconds (told apart by magnitude); and columns ``open, high, low, close,
volume`` in any case and order (``o, h, l, c, v`` too). Other columns are ignored.
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.data.columns import OHLCV, TIME
from btcrl.errors import DataError

TIME_NAMES = ("time", "timestamp", "datetime", "date", "open_time", "open time", "opentime")
SHORT_NAMES = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}


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


def read_csv_candles(path: Path) -> pd.DataFrame:
    """Parse ``path`` into a candle frame (UTC index ``time``, float64 OHLCV), rows as in the file.

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
    time_name = next((columns[n] for n in TIME_NAMES if n in columns), raw.columns[0])
    if time_name in (columns[n] for n in OHLCV):
        raise DataError(f"csv file {path} has no time column (tried {', '.join(TIME_NAMES)})")
    index = _parse_times(raw[time_name], path, str(time_name))
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
    return pd.DataFrame(values, index=index)


def _sniff_needed(path: Path) -> bool:
    """True when the header does not use commas (``;`` or tab separated files)."""
    try:
        with path.open() as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return "," not in header and (";" in header or "\t" in header)


def _parse_times(column: pd.Series, path: Path, name: str) -> pd.DatetimeIndex:
    if column.isna().any():
        row = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise DataError(f"csv file {path} is malformed: empty {name} in row {row + 2}")
    numeric = column if pd.api.types.is_numeric_dtype(column) else None
    if numeric is None and column.astype(str).str.fullmatch(r"\s*\d+(\.0*)?\s*").iloc[:5].all():
        numeric = pd.to_numeric(column, errors="coerce")  # epoch stamps read as text
    try:
        if numeric is not None and numeric.notna().all():
            stamps = pd.to_datetime(numeric.astype("int64"), unit=_epoch_unit(numeric), utc=True)
        else:
            stamps = pd.to_datetime(column.astype(str).str.strip(), utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"csv file {path} is malformed: column {name} is not ISO datetimes or epoch "
            f"seconds/milliseconds ({exc})".splitlines()[0]
        ) from None
    return pd.DatetimeIndex(stamps, name=TIME).as_unit("us")


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
