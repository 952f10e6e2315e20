"""Do the new features help? A walk-forward ablation at equal training budget and 3 seeds.

Four feature sets go through the same walk-forward (``btcrl.walkforward``: every segment
trained on its own past, fitted features fitted on its train split, test windows stitched):

- ``default``: today's default set (indicators, turbulence, five strategy signals);
- ``context``: default + ETH/USDT 1h candles as a context asset (returns, correlation, beta,
  ETH/BTC ratio, multi-asset turbulence) + the daily VIX, S&P 500 and dollar index;
- ``hmm``: default + the 4-state HMM's filtered regime probabilities;
- ``all``: default + context + HMM + fracdiff + range volatility + returns/z-scores.

Data: the Binance BTC/USDT 1h file of ``--data`` (``BTCUSDT_1h_binance.csv``), the ETH/USD
1h file (2022-01 .. 2024-12 only) and the daily CSVs. ETH exists only in 2022-2024, so the
candles are cut to 2021-07-01 .. 2024-12-31 and every variant runs the same segments, whose
train windows start on or after 2022-01-01 (8-month train window with a 2-month validation
tail, 3-month test windows: segment k tests months 2022-03 + 3k .. + 3, so segments 2..10
hold tests 2022-09 .. 2024-12; the default runs 4..9, tests 2023-03 .. 2024-08). Every
variant x seed is one trial of the DSR (N = variants x seeds, V = the variance of their
per-bar stitched Sharpe ratios). Against the default set, measured in the same run: the
ratio of mean stitched Sharpe ratios (meaningless when the default's is near 0), their
difference, and Welch's t of that difference over the seeds. Usage::

    .venv/bin/python benchmarks/features_ablation.py --data ../shared/data \\
        [--segments 4,5,6,7,8,9] [--timesteps 40000] [--seeds 0,1,2] [--workers 2]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.metrics import sharpe_per_bar, stats

START, END = "2021-07-01", "2024-12-31"  # train windows of segments >= 2 start in 2022-01


def variants(data: Path) -> dict[str, dict[str, Any]]:
    """Overrides of each feature set (dotted keys, as ``--set``)."""
    context = {
        "features.context": [
            {"source": f"csv:{data / 'ETH_USD_1h_2022_2024.csv'}", "symbol": "ETH/USDT"}
        ],
        "features.external": [
            {"name": "vix", "source": f"csv:{data / 'VIX_daily_cboe.csv'}"},
            {"name": "spx", "source": f"csv:{data / 'SPX_daily_yahoo.csv'}"},
            {"name": "dxy", "source": f"csv:{data / 'DXY_daily_yahoo.csv'}"},
        ],
    }
    hmm = {"features.hmm.enabled": True}
    rest = {
        "features.fracdiff.enabled": True,
        "features.range_volatility.enabled": True,
        "features.returns.enabled": True,
    }
    return {"default": {}, "context": context, "hmm": hmm, "all": {**context, **hmm, **rest}}


def base_config(args: argparse.Namespace, root: Path) -> ExperimentConfig:
    return with_overrides(
        ExperimentConfig(),
        {
            "data.source": f"csv:{args.data / 'BTCUSDT_1h_binance.csv'}",
            "data.symbol": "BTC/USDT",
            "data.timeframe": "1h",
            "data.start": START,
            "data.end": END,
            "data.data_dir": str(root / "data"),
            "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
            "train.total_timesteps": args.timesteps,
            "train.eval_every": args.timesteps // 4,
            "train.system_metrics": False,
            "walkforward.train_months": 8,
            "walkforward.val_months": 2,
            "walkforward.test_months": 3,
            "walkforward.step_months": 3,
            "walkforward.seeds": args.seeds,
            "walkforward.segments": args.segments,
            "walkforward.workers": args.workers,
            "walkforward.register_model": False,
            "walkforward.storage": f"sqlite:///{root / 'studies.db'}",
        },
    )


def run_variant(config: ExperimentConfig, name: str) -> Any:
    """The walk-forward's Aggregate (every seed's stitched curve), caught on its way to
    MLflow so that each seed can be scored as a trial."""
    import btcrl.walkforward.aggregate as agg_module
    from btcrl.walkforward import run_walkforward

    caught: dict[str, Any] = {}
    original = agg_module.aggregate

    def catch(*a: Any, **k: Any) -> Any:
        caught["agg"] = original(*a, **k)
        return caught["agg"]

    agg_module.aggregate = catch  # type: ignore[assignment]
    try:
        result = run_walkforward(with_overrides(config, {"walkforward.name": f"abl-{name}"}))
    finally:
        agg_module.aggregate = original  # type: ignore[assignment]
    if result.finished != result.wanted or "agg" not in caught:
        sys.exit(f"{name}: {result.finished}/{result.wanted} jobs finished")
    return caught["agg"]


def score(aggs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant x seed: annualised Sharpe, max drawdown, return and the DSR with
    every row counted as a trial."""
    rows = []
    for name, agg in aggs.items():
        for seed, stitched in agg.models.items():
            returns = stitched.equity[1:] / stitched.equity[:-1] - 1.0
            rows.append(
                {
                    "variant": name,
                    "seed": seed,
                    "returns": returns,
                    "sr_bar": float(sharpe_per_bar(returns)),
                    "sharpe": stitched.metrics["sharpe"],
                    "max_drawdown": stitched.metrics["max_drawdown"],
                    "total_return": stitched.metrics["total_return"],
                }
            )
    variance = float(np.var([r["sr_bar"] for r in rows], ddof=1))
    for row in rows:
        row["dsr"] = stats.deflated_sharpe_ratio(row["returns"], len(rows), variance)
    return rows


def report(rows: list[dict[str, Any]], aggs: dict[str, Any], seconds: dict[str, float]) -> str:
    """Print the per-seed rows and the per-variant means; return the RESULT fields."""
    print(f"{'variant':<9}{'seed':>5}{'sharpe':>9}{'max_dd':>9}{'return':>9}{'dsr':>8}")
    for r in rows:
        print(
            f"{r['variant']:<9}{r['seed']:>5}{r['sharpe']:>9.3f}{r['max_drawdown']:>9.3f}"
            f"{r['total_return']:>9.3f}{r['dsr']:>8.3f}"
        )
    base = np.array([r["sharpe"] for r in rows if r["variant"] == "default"])
    print(
        f"\nmeans over seeds (ratio, diff, welch_t: against default, same run; "
        f"N = {len(rows)} trials)"
    )
    print(
        f"{'variant':<9}{'sharpe':>9}{'sd':>7}{'max_dd':>9}{'return':>9}{'dsr':>7}"
        f"{'ratio':>8}{'diff':>8}{'welch_t':>8}{'wall_s':>8}"
    )
    fields = []
    for name in aggs:
        mine = [r for r in rows if r["variant"] == name]
        values = np.array([r["sharpe"] for r in mine])
        sharpe, sd = float(values.mean()), float(values.std(ddof=1))
        mdd = float(np.mean([r["max_drawdown"] for r in mine]))
        ret = float(np.mean([r["total_return"] for r in mine]))
        dsr = float(np.mean([r["dsr"] for r in mine]))
        ratio = sharpe / base.mean() if base.mean() != 0 else float("nan")
        diff = sharpe - float(base.mean())
        spread = np.sqrt(values.var(ddof=1) / values.size + base.var(ddof=1) / base.size)
        welch = diff / spread if spread > 0 else 0.0
        print(
            f"{name:<9}{sharpe:>9.3f}{sd:>7.3f}{mdd:>9.3f}{ret:>9.3f}{dsr:>7.3f}"
            f"{ratio:>8.2f}{diff:>8.3f}{welch:>8.2f}{seconds[name]:>8.0f}"
        )
        fields.append(
            f"{name}_sharpe={sharpe:.3f} {name}_dsr={dsr:.3f} {name}_ratio={ratio:.2f} "
            f"{name}_t={welch:.2f}"
        )
    bh = next(iter(aggs.values())).baselines["buy_and_hold"].metrics
    print(
        f"buy_and_hold (same windows): sharpe {bh['sharpe']:.3f} max_dd {bh['max_drawdown']:.3f}"
        f" return {bh['total_return']:.3f}"
    )
    return " ".join(fields) + f" bh_sharpe={bh['sharpe']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--segments", default="4,5,6,7,8,9")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--timesteps", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="default,context,hmm,all", help="variants to run")
    args = parser.parse_args()
    args.data = args.data.resolve()
    args.segments = tuple(int(s) for s in args.segments.split(","))
    args.seeds = tuple(int(s) for s in args.seeds.split(","))
    logging.basicConfig(level=logging.WARNING)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    with tempfile.TemporaryDirectory(prefix="btcrl-ablation-") as tmp:
        config = base_config(args, Path(tmp))
        aggs, seconds = {}, {}
        for name, overrides in variants(args.data).items():
            if name not in args.only.split(","):
                continue
            start = time.perf_counter()
            aggs[name] = run_variant(with_overrides(config, overrides), name)
            seconds[name] = time.perf_counter() - start
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    segs = next(iter(aggs.values())).segments
    print(
        f"segments {','.join(str(s.index) for s in segs)}: tests "
        f"{segs[0].test_start:%Y-%m-%d} .. {segs[-1].test_stop:%Y-%m-%d} (8-month train incl."
        f" 2-month validation); {args.timesteps} env-steps per job; seeds {args.seeds}"
    )
    rows = score(aggs)
    print("RESULT " + report(rows, aggs, seconds))


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
