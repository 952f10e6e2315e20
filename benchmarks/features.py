"""Benchmark: every indicator, turbulence and the five strategies, vectorised vs per candle.

Times the default feature list (8 indicators, turbulence, 5 strategy signals, two of them on
resampled 4h bars) on the real 62,482-row Binance BTC/USDT 1h file and on the same data tiled
to 500,000 rows, plus the whole ``build_feature_set`` (normalisation and FeatureSet assembly
included). The baseline is the per-candle reference loop a naive bot runs: at every new
candle, recompute each indicator, the turbulence and each strategy from scratch on the last
``--window`` candles (plain pandas formulas, btcrl.features.reference and
btcrl.strategies.reference) and keep the last value. The baseline is timed on ``--samples``
candles and extrapolated per candle to the full file; the output says so.

    .venv/bin/python benchmarks/features.py [--csv PATH] [--samples 100] [--window 1000]

Numba kernels are compiled (or loaded from their cache) before timing. Targets: 62k rows
<= 2 s, 500k rows <= 10 s, speed-up >= 100x.

Fitted features (issue 15): on the same 62k bars, fitting every fitted feature (HMM EM with
its restarts, the fracdiff order search with its ADF tests) on all bars, target < 3 s, and
transforming with given params (the work of every backtest and test window), target
< 0.3 s, printed next to today's ``build_feature_set`` of the default features and as a
ratio to it. ``--fitted-only`` times just those three.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "2")  # the acceptance machine has two cores

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from btcrl.config import FeaturesConfig  # noqa: E402
from btcrl.features import build_feature_set  # noqa: E402
from btcrl.features.fitted import fit_features, transform_features  # noqa: E402
from btcrl.features.indicators import compute_indicators  # noqa: E402
from btcrl.features.turbulence import turbulence  # noqa: E402
from btcrl.strategies import get_strategy, raw_signals  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the reference formulas
from reference.features import ref_indicator, ref_turbulence_last  # noqa: E402
from reference.strategies import reference_signal  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "BTCUSDT_1h_binance.csv"
CONFIG = FeaturesConfig()
FITTED = FeaturesConfig(hmm={"enabled": True}, fracdiff={"enabled": True}, cache=False)


def read_candles(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("datetime"), utc=True), name="time")
    return frame.set_index(index)[["open", "high", "low", "close", "volume"]].astype("float64")


def tile(candles: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``candles`` repeated to ``rows`` rows on a continuous hourly grid, each copy scaled to
    start at the previous copy's last close (no price jumps at the seams)."""
    blocks, last, total = [], None, 0
    while total < rows:
        block = candles.iloc[: rows - total].copy()
        if last is not None:
            block[["open", "high", "low", "close"]] *= last / block["open"].iloc[0]
        last = block["close"].iloc[-1]
        blocks.append(block)
        total += len(block)
    out = pd.concat(blocks)
    out.index = pd.date_range(candles.index[0], periods=len(out), freq="1h", tz="UTC", name="time")
    return out


def compute_all(candles: pd.DataFrame) -> None:
    """Every default indicator, the turbulence and the five strategies' signals."""
    compute_indicators(candles, CONFIG.indicators)
    turbulence(candles["close"].to_numpy(), CONFIG.turbulence.window, CONFIG.turbulence.horizons)
    for name in CONFIG.strategies:
        raw_signals(get_strategy(name), candles, "1h")


def reference_row(window: pd.DataFrame) -> None:
    """The per-candle baseline: the same outputs for the window's last candle only."""
    for name in CONFIG.indicators:
        ref_indicator(window, name)
    ref_turbulence_last(
        window["close"].to_numpy(), CONFIG.turbulence.window, CONFIG.turbulence.horizons
    )
    for name in CONFIG.strategies:
        reference_signal(name, window, "1h")


def best_of(repeats: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def time_fitted(candles: pd.DataFrame, repeats: int) -> tuple[float, float, float]:
    """(today's default build, fit of all fitted features, transform with their params), s."""

    def build(config: FeaturesConfig):
        return build_feature_set(
            candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h"
        )

    fixed = build(CONFIG)
    warm = fixed.rows(0, 6000)
    fit_features(warm, FITTED, warm.index[-1])  # imports, numba compilation
    today = best_of(repeats, lambda: build(CONFIG))
    fit = best_of(max(1, repeats - 1), lambda: fit_features(fixed, FITTED, fixed.index[-1]))
    params = fit_features(fixed, FITTED, fixed.index[-1])
    transform = best_of(repeats, lambda: transform_features(fixed, FITTED, params))
    return today, fit, transform


def print_fitted(rows: int, today: float, fit: float, transform: float) -> None:
    print(f"{'fitted features (62k bars)':<42} {'rows':>9} {'seconds':>9}  target  x today")
    for label, seconds, target in (
        ("today: build_feature_set, default features", today, ""),
        ("fit hmm (3 EM restarts) + fracdiff d search", fit, "< 3 s"),
        ("transform hmm + fracdiff with given params", transform, "< 0.3 s"),
    ):
        print(f"{label:<42} {rows:>9,} {seconds:>9.3f}  {target:<7} {seconds / today:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--samples", type=int, default=100, help="candles timed per candle")
    parser.add_argument("--window", type=int, default=1000, help="bars the baseline recomputes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fitted-only", action="store_true", help="time the fitted features")
    args = parser.parse_args()

    candles = read_candles(args.csv)
    today, fit, transform = time_fitted(candles, args.repeats)
    fitted_result = (
        f"fitted_fit_62k_s={fit:.3f} fitted_transform_62k_s={transform:.3f} "
        f"today_build_62k_s={today:.3f}"
    )
    if args.fitted_only:
        print_fitted(len(candles), today, fit, transform)
        print(f"RESULT rows={len(candles)} {fitted_result}")
        return
    big = tile(candles, 500_000)
    compute_all(candles.iloc[:3000])  # compile / load the numba kernels
    rows = []

    t62 = best_of(args.repeats, lambda: compute_all(candles))
    rows.append(("indicators+turbulence+strategies", len(candles), t62, "<= 2 s"))
    parts = {
        "  indicators (8)": lambda: compute_indicators(candles, CONFIG.indicators),
        "  turbulence": lambda: turbulence(candles["close"].to_numpy(), 240, (1, 4, 24)),
        **{
            f"  strategy {n}": (lambda n=n: raw_signals(get_strategy(n), candles, "1h"))
            for n in CONFIG.strategies
        },
    }
    for label, func in parts.items():
        rows.append((label, len(candles), best_of(args.repeats, func), ""))
    build = best_of(
        args.repeats,
        lambda: build_feature_set(
            candles, CONFIG, exchange="binance", symbol="BTC/USDT", timeframe="1h"
        ),
    )
    rows.append(("build_feature_set (no cache)", len(candles), build, ""))
    t500 = best_of(max(1, args.repeats - 1), lambda: compute_all(big))
    rows.append(("indicators+turbulence+strategies", len(big), t500, "<= 10 s"))
    build500 = best_of(
        1,
        lambda: build_feature_set(
            big, CONFIG, exchange="binance", symbol="BTC/USDT", timeframe="1h"
        ),
    )
    rows.append(("build_feature_set (no cache)", len(big), build500, ""))

    rng = np.random.default_rng(0)
    picks = rng.integers(args.window, len(candles), args.samples)
    start = time.perf_counter()
    for t in picks:
        reference_row(candles.iloc[t - args.window + 1 : t + 1])
    per_candle = (time.perf_counter() - start) / args.samples
    ref_total = per_candle * len(candles)
    rows.append(
        (
            f"per-candle reference, {args.samples} sampled",
            args.samples,
            per_candle * args.samples,
            "",
        )
    )
    rows.append(("per-candle reference, extrapolated", len(candles), ref_total, ""))
    speedup = ref_total / t62

    print_fitted(len(candles), today, fit, transform)
    print()
    print(f"{'step':<42} {'rows':>9} {'seconds':>9}  target")
    for label, n, seconds, target in rows:
        print(f"{label:<42} {n:>9,} {seconds:>9.3f}  {target}")
    print(
        f"\nbaseline: per candle, recompute everything on the last {args.window} candles "
        f"(plain pandas + Python loops); timed on {args.samples} random candles "
        f"({per_candle * 1e3:.1f} ms each) and extrapolated x {len(candles):,} candles."
    )
    print(
        f"speed-up of the vectorised pass over the per-candle loop: {speedup:,.0f}x "
        f"(target >= 100x)"
    )
    print(
        f"RESULT rows={len(candles)} vectorised_62k_s={t62:.3f} build_62k_s={build:.3f} "
        f"vectorised_500k_s={t500:.3f} build_500k_s={build500:.3f} "
        f"reference_ms_per_candle={per_candle * 1e3:.2f} reference_62k_s_extrapolated="
        f"{ref_total:.1f} speedup={speedup:.0f} {fitted_result}"
    )


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
