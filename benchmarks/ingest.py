"""Time a full CSV ingest against a no-op re-ingest, and show the no-op rewrites nothing.

    .venv/bin/python benchmarks/ingest.py [--csv PATH] [--repeats N]

Baselines measured in the same run: a plain ``pandas.read_csv`` of the file (the least any
import must do) and the full ingest (read, validate, hash, write parquet + manifest). The
no-op re-ingest must leave the parquet's inode, mtime and bytes unchanged.
"""

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from btcrl.config import DataConfig
from btcrl.data import ingest_candles

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "BTCUSDT_1h_binance.csv"


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _file_state(path: Path) -> tuple[int, int, str]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="candle CSV to ingest")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    args = parser.parse_args()
    source = f"csv:{args.csv.resolve()}"

    with tempfile.TemporaryDirectory(prefix="btcrl-bench-") as tmp:
        read_s = _median_time(lambda: pd.read_csv(args.csv), args.repeats)
        runs = iter(range(args.repeats))

        def full() -> None:
            ingest_candles(DataConfig(source=source, data_dir=Path(tmp) / f"full{next(runs)}"))

        full_s = _median_time(full, args.repeats)
        config = DataConfig(source=source, data_dir=Path(tmp) / "store")
        first = ingest_candles(config)
        before = _file_state(first.path)
        noop_s = _median_time(lambda: ingest_candles(config), args.repeats)
        again = ingest_candles(config)
        after = _file_state(first.path)

    rewritten = int(before != after or again.written)
    rows = [
        ("pandas.read_csv (baseline)", read_s, read_s / full_s),
        ("full csv ingest", full_s, 1.0),
        ("no-op re-ingest", noop_s, noop_s / full_s),
    ]
    print(f"csv: {args.csv}  rows: {first.rows:,}  gaps: {first.gaps}  "
          f"missing bars: {first.missing_bars}  repeats: {args.repeats} (median)")  # fmt: skip
    print(f"{'operation':<28} {'seconds':>9} {'x full':>8}")
    for name, seconds, ratio in rows:
        print(f"{name:<28} {seconds:>9.4f} {ratio:>8.3f}")
    print(f"parquet before no-op: inode={before[0]} mtime_ns={before[1]} sha256={before[2]}")
    print(f"parquet after no-op:  inode={after[0]} mtime_ns={after[1]} sha256={after[2]}")
    print(f"no-op rewrote the parquet: {'yes' if rewritten else 'no'}")
    print(
        f"RESULT rows={first.rows} gaps={first.gaps} missing_bars={first.missing_bars} "
        f"read_csv_s={read_s:.4f} full_ingest_s={full_s:.4f} noop_ingest_s={noop_s:.4f} "
        f"speedup={full_s / noop_s:.1f} parquet_rewritten={rewritten}"
    )


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
