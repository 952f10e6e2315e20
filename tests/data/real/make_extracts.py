"""Cut the real-data extracts in this folder from ``../shared/data`` (run by hand, once):
``python tests/data/real/make_extracts.py [SHARED_DATA_DIR]``.

Rows are copied byte for byte (header + a contiguous run of lines), then gzipped with a
fixed mtime so that re-running gives identical files. Tests never read ``../shared``: the
``shared_data`` fixture (tests/conftest.py) unpacks these files into a temp folder under
their original names.
"""

import gzip
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared" / "data"  # ../shared/data next to the clone; or argv[1]

# file -> (prefix of the first row kept, prefix of the first row dropped) or (None, row count)
CUTS = {
    "BTCUSDT_1h_binance.csv": ("2023-01-01 00:00:00", "2023-07-01 00:00:00"),
    "BTCUSDT_15m_binance.csv": (None, 3000),  # the first 3,000 rows: 2024-01-29 .. 2024-03-01
    "ETH_USD_1h_2022_2024.csv": ("2023-01-01 00:00:00", "2023-02-01 00:00:00"),
    "VIX_daily_cboe.csv": ("06/01/2022", "07/01/2024"),
    "SPX_daily_yahoo.csv": ("06/01/2022", "07/01/2024"),
    "DXY_daily_yahoo.csv": ("2022-06-01", "2024-07-01"),
}


def cut(lines: list[str], first: str | None, stop: str | int) -> list[str]:
    """The header plus the rows from the one starting with ``first`` up to ``stop``."""
    header, rows = lines[0], lines[1:]
    if isinstance(stop, int):
        return [header, *rows[:stop]]
    start = next(i for i, row in enumerate(rows) if row.startswith(first or ""))
    end = next(i for i, row in enumerate(rows) if i > start and row.startswith(stop))
    return [header, *rows[start:end]]


def main() -> int:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED
    for name, (first, stop) in CUTS.items():
        lines = (shared / name).read_text().splitlines(keepends=True)
        kept = cut(lines, first, stop)
        target = HERE / f"{name}.gz"
        with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            out.write("".join(kept).encode())
        print(
            f"{name}: {len(kept) - 1} rows, {kept[1][:19]} .. {kept[-1][:19]}, "
            f"{target.stat().st_size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
