"""Env throughput: TradingEnv (N = 1), the raw engine and BatchTradingEnv.step() at N = 64,
512 and 4096, against gym-anytrading's StocksEnv on the same candles; then windowed
observations (``env.window`` W = 1, 16, 64 at N = 512): env-steps/s and the observation
bytes written per second (GB/s), against W = 1.

    .venv/bin/python benchmarks/env.py [--seconds 1.0] [--repeats 3] [--parallel] [--windows-only]

Actions are pre-generated (uniform in [-1, 1]); every figure is env-steps per second of wall
time, the best of ``--repeats`` runs of about ``--seconds`` each. The FeatureSet comes from
``btcrl.features.build_feature_set`` on the bundled sample (default FeaturesConfig), or, if
that fails, from a few simple price features. Ends with one ``RESULT`` line.
"""

import argparse
import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from btcrl.config.env import EnvConfig
from btcrl.data.sample import load_sample
from btcrl.env import BatchTradingEnv, TradingEnv
from btcrl.env.engine import step_envs, step_envs_parallel
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec

SIZES = (64, 512, 4096)
WINDOWS = (1, 16, 64)
WINDOW_ENVS = 512


def make_features(candles: pd.DataFrame) -> tuple[FeatureSet, str]:
    """The real feature builder if it works, else simple price ratios."""
    try:
        from btcrl.config.features import FeaturesConfig
        from btcrl.features import build_feature_set

        fs = build_feature_set(
            candles, FeaturesConfig(), exchange="binance", symbol="BTC/USDT", timeframe="1h"
        )
        return fs, "build_feature_set(default FeaturesConfig)"
    except Exception as exc:  # noqa: BLE001 - the builder is optional here
        logging.warning("build_feature_set failed (%s); using simple features", exc)
    close = candles["close"].to_numpy()
    values = np.column_stack(
        [candles[c].to_numpy() / close - 1.0 for c in ("open", "high", "low")]
        + [np.log1p(candles["volume"].to_numpy()) / 10.0]
    ).astype(np.float32)
    names = ("open_ratio", "high_ratio", "low_ratio", "log_volume")
    spec = FeatureSpec(
        "binance", "BTC/USDT", "1h", tuple(ColumnSpec(n, "price", "ratio") for n in names)
    )
    fs = FeatureSet(
        spec=spec,
        times=candles.index.as_unit("ns").asi8.copy(),
        prices=np.ascontiguousarray(candles[["open", "high", "low", "close"]].to_numpy()),
        volume=candles["volume"].to_numpy(),
        features=values,
    )
    return fs, "simple price ratios"


def best_rate(run: Callable[[int], int], seconds: float, repeats: int) -> float:
    """Best env-steps/s over ``repeats`` timed runs; ``run(k)`` does k calls, returns steps."""
    run(2)  # warm up (compilation, caches)
    calls = 1
    while True:  # calibrate calls per run to about ``seconds``
        t0 = time.perf_counter()
        run(calls)
        if time.perf_counter() - t0 > seconds / 4:
            break
        calls *= 2
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        steps = run(calls * 4)
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def bench_single(fs: FeatureSet, config: EnvConfig, seconds: float, repeats: int) -> float:
    env = TradingEnv(fs, config, mode="train", seed=0)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (65536, 2)).astype(np.float32)

    def run(calls: int) -> int:
        step = env.step
        for k in range(calls * 1000):
            _, _, terminated, truncated, _ = step(actions[k & 65535])
            if terminated or truncated:
                env.reset()
        return calls * 1000

    return best_rate(run, seconds, repeats)


def bench_batch(
    fs: FeatureSet, config: EnvConfig, n: int, parallel: bool, seconds: float, repeats: int
) -> tuple[float, float]:
    env = BatchTradingEnv(fs, config, n, seed=0, parallel=parallel)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (16, n, 2)).astype(np.float32)
    kernel = step_envs_parallel if parallel else step_envs

    def raw(calls: int) -> int:
        for k in range(calls):
            kernel(
                env._prices, env._values, actions[k & 15], env._params, env._next_start,
                env._state, env._istate, env.ledger, env._obs, env._term_obs, env._rewards,
                env._dones,
            )  # fmt: skip
        return calls * n

    def vec(calls: int) -> int:
        for k in range(calls):
            env.step(actions[k & 15])
        return calls * n

    return best_rate(raw, seconds, repeats), best_rate(vec, seconds, repeats)


def bench_anytrading(candles: pd.DataFrame, seconds: float, repeats: int) -> float | None:
    try:
        from gym_anytrading.envs import StocksEnv
    except ImportError:
        return None
    frame = candles.rename(columns=str.capitalize).reset_index(drop=True)
    env = StocksEnv(frame, window_size=10, frame_bound=(10, len(frame)))
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, 65536)

    def run(calls: int) -> int:
        for k in range(calls * 1000):
            _, _, terminated, truncated, _ = env.step(int(actions[k & 65535]))
            if terminated or truncated:
                env.reset()
        return calls * 1000

    return best_rate(run, seconds, repeats)


def bench_windows(fs: FeatureSet, parallel: bool, seconds: float, repeats: int) -> dict[str, float]:
    """The raw engine and BatchTradingEnv.step() at N = ``WINDOW_ENVS`` for each window:
    env-steps/s, observation GB/s (float32 bytes of the observations written per second) and
    the ratio against W = 1. ``step()`` also copies the observations out (SB3 keeps them)."""
    figures: dict[str, float] = {}
    n_features = fs.features.shape[1]
    print(
        f"{'window W':>8s} {'obs bytes':>10s} {'engine steps/s':>15s} {'GB/s':>6s} "
        f"{'step() steps/s':>15s} {'GB/s':>6s} {'x W=1':>6s}"
    )
    for window in WINDOWS:
        config = EnvConfig(window=window)
        raw, vec = bench_batch(fs, config, WINDOW_ENVS, parallel, seconds, repeats)
        obs_bytes = 4 * (2 + window * n_features)
        figures[f"w{window}_raw"] = raw
        figures[f"w{window}_raw_gbs"] = raw * obs_bytes / 1e9
        figures[f"w{window}_steps"] = vec
        figures[f"w{window}_gbs"] = vec * obs_bytes / 1e9
        ratio = vec / figures["w1_steps"]
        print(
            f"{window:8d} {obs_bytes:10,d} {raw:15,.0f} {raw * obs_bytes / 1e9:6.2f} "
            f"{vec:15,.0f} {vec * obs_bytes / 1e9:6.2f} {ratio:6.2f}"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--parallel", action="store_true", help="numba threads over envs")
    parser.add_argument("--windows-only", action="store_true", help="only the window table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    candles = load_sample()
    fs, source = make_features(candles)
    config = EnvConfig()
    print(f"data: bundled sample, {len(fs)} bars x {fs.features.shape[1]} features ({source})")
    print(f"kernel: {'parallel' if args.parallel else 'serial'}; actions uniform in [-1, 1]")
    windows = bench_windows(fs, args.parallel, args.seconds, args.repeats)
    if args.windows_only:
        print("RESULT " + " ".join(f"{k}={v:.3g}" for k, v in windows.items()))
        return
    base = bench_anytrading(candles, args.seconds, args.repeats)
    rows: list[tuple[str, int, float]] = []
    single = bench_single(fs, config, args.seconds, args.repeats)
    rows.append(("TradingEnv.step", 1, single))
    figures = {"single": single}
    for n in SIZES:
        raw, vec = bench_batch(fs, config, n, args.parallel, args.seconds, args.repeats)
        rows += [("engine step (raw)", n, raw), ("BatchTradingEnv.step", n, vec)]
        figures[f"raw_{n}"] = raw
        figures[f"vec_{n}"] = vec
    if base is not None:
        rows.append(("gym-anytrading StocksEnv.step", 1, base))
        figures["anytrading"] = base
    print(f"{'what':32s} {'N':>5s} {'env-steps/s':>14s} {'x anytrading':>13s}")
    for name, n, rate in rows:
        ratio = f"{rate / base:13.1f}" if base else f"{'n/a':>13s}"
        print(f"{name:32s} {n:5d} {rate:14,.0f} {ratio}")
    figures.update(windows)
    print("RESULT " + " ".join(f"{k}={v:.3g}" for k, v in figures.items()))


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
