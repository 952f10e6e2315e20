"""The ``trend_voltarget`` prior on the developers' data, stitched out of sample (issue 21).

The test windows of the 18/3/6-month walk-forward of ``benchmarks/recipe.py`` on
``BTCUSDT_1h_binance.csv`` (2018-02..2025-03, ingested into ``--data-dir``): eleven 6-month
windows 2019-09..2025-02. Each rule is traded on each window exactly as the walk-forward
trades its baselines (``btcrl.walkforward.oos``: the engine and ledger of ``btcrl backtest``,
features built with warm-up bars from before the window, a flat start with the previous
window's final equity, the forced close at its end) and the windows are chained
(``btcrl.walkforward.stitch``). Rules need no training: buy-and-hold (the baseline of the
ratios) and the prior, under configs/default.yaml's features and costs (fee 10 bps, slippage
2 bps, decision at the close, fill at the next open).

``--agents`` adds the shipped default agent (the recipe of ``benchmarks/residual.py`` equal to
configs/default.yaml) with seeds 0, 1, 2, and ``--ensemble`` their seed ensemble: the
comparison's own walk-forward under the same ``--root``/``--data-dir``/``--timesteps`` (a root
where ``benchmarks/residual.py`` ran trains nothing again; otherwise minutes to hours on 2
cores, so off by default); its rows come from the walk-forward's own stitch.

Units: Sharpe annualised (sqrt(8760) on 1h bars); return, max drawdown (<= 0) and costs
(fees, slippage and carry) are fractions of the starting capital; turnover/yr is traded
notional over mean equity per year. ``x_*`` is the excess over the prior (per-bar return
differences): ``x_ret`` the difference of total returns, ``x_sh`` the annualised Sharpe of
the differences, ``x_psr`` its PSR and ``x_dsr`` its DSR. Every DSR counts N = the number
of configurations this table ran (rows), with V = the variance of their per-bar Sharpe
ratios (of the excess for ``x_dsr``); the default agent was picked among
``benchmarks/residual.py``'s configurations, which this N does not count: that benchmark's
``dsr`` column is its deflated figure. ``sh/bh`` and ``dd/bh`` are ratios against
buy-and-hold in the same run. Goal (issue 21, only with ``--agents``): every seed's Sharpe
at least the prior's + 0.1 with max drawdown at most half of buy-and-hold's.
Usage::

    nice -n 10 .venv/bin/python benchmarks/prior.py [--quick]
    nice -n 10 .venv/bin/python benchmarks/prior.py --agents --ensemble \\
        --root /tmp/residual --data-dir /tmp/residual/data
"""

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from recipe import capture_aggregates, ratio, returns_of, series_row

ROOT = Path(__file__).resolve().parents[1]
PRIOR = "trend_voltarget"
BH = "buy_and_hold"
CSV = "shared/data/BTCUSDT_1h_binance.csv"  # beside the checkout, or beside its worktree folder
DEFAULT_CSV = next((d / CSV for d in ROOT.parents[:2] if (d / CSV).exists()), ROOT.parent / CSV)


def base_config(args: argparse.Namespace, data_dir: str) -> Any:
    """configs/default.yaml on the benchmark's data and split."""
    from btcrl.config import load_config, with_overrides

    root = Path(args.root)
    values: dict[str, Any] = {
        "data.source": f"csv:{args.csv}",
        "data.symbol": "BTC/USDT",
        "data.timeframe": "1h",
        "data.end": args.end,
        "data.data_dir": data_dir,
        "features.prior.enabled": True,
        "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
        "train.system_metrics": False,
        "walkforward.train_months": 18,
        "walkforward.val_months": 3,
        "walkforward.test_months": args.test_months,
        "walkforward.step_months": args.test_months,
        "walkforward.segments": args.segments,
        "walkforward.seeds": [0, 1, 2],
        "walkforward.name": "prior-default",
        "walkforward.storage": f"sqlite:///{root / 'studies.db'}",
        "walkforward.register_model": False,
    }
    return with_overrides(load_config(ROOT / "configs" / "default.yaml"), values)


def rule_series(config: Any) -> tuple[list[Any], dict[str, Any]]:
    """The segments and each rule's stitched series (``btcrl.walkforward.aggregate.Stitched``)
    over the test windows, chained as the walk-forward chains its baselines."""
    from btcrl.data import load_candles
    from btcrl.data.timeframes import periods_per_year, timeframe_timedelta
    from btcrl.walkforward.aggregate import Stitched
    from btcrl.walkforward.oos import baseline_policy, run_window
    from btcrl.walkforward.split import make_segments, select_segments
    from btcrl.walkforward.stitch import stitch, window_metrics
    from btcrl.walkforward.windows import oos_window_features

    candles = load_candles(config.data)
    bar = timeframe_timedelta(config.data.timeframe)
    every = make_segments(candles.index[0], candles.index[-1] + bar, config.walkforward, bar)
    segments = select_segments(every, config.walkforward.segments)
    features = [oos_window_features(candles, config, s, ()) for s in segments]
    ppy, rf = periods_per_year(config.data.timeframe), config.backtest.risk_free_rate
    out: dict[str, Any] = {}
    for name in (BH, PRIOR):
        windows, balance = [], config.env.initial_balance
        for segment, fs in zip(segments, features, strict=True):
            policy, env = baseline_policy(name, fs, config.env)
            windows.append(run_window(fs, env, policy, balance, segment.index))
            balance = float(windows[-1].equity[-1])
        times, equity, steps, trades = stitch(windows)
        metrics = window_metrics(equity, steps, trades, ppy, rf)
        out[name] = Stitched(name, windows, times, equity, steps, trades, metrics, {})
    return segments, out


def agent_series(args: argparse.Namespace) -> dict[str, Any]:
    """The shipped default's walk-forward (seeds 0, 1, 2 and, with ``--ensemble``, their
    ensemble): each series stitched. It is ``benchmarks/residual.py``'s run of the recipe
    equal to configs/default.yaml, under the same ``--root``, ``--data-dir`` and
    ``--timesteps``: a root where the comparison ran trains nothing again."""
    from recipe import default_name, run_recipe
    from residual import RECIPES

    name = default_name(list(RECIPES))
    if name is None:
        raise SystemExit("configs/default.yaml equals none of benchmarks/residual.py's recipes")
    args.train_months, args.val_months, args.workers = 18, 3, 1
    capture_aggregates()
    agg = run_recipe(name, args, (0, 1, 2))
    out = {f"default seed {seed}": agg.models[seed] for seed in agg.seeds}
    if getattr(agg, "ensemble", None) is not None:
        out["default ensemble"] = agg.ensemble
    return out


def table_rows(series: dict[str, Any], ppy: float) -> list[dict[str, float]]:
    """One row per series: headline numbers, excess over the prior, PSR/DSR with N = rows."""
    from btcrl.backtest.report import excess_group
    from btcrl.metrics import sharpe_per_bar, stats

    prior = series[PRIOR].equity
    diffs = {n: returns_of(s) - prior[1:] / prior[:-1] + 1.0 for n, s in series.items()}
    own = stats.trial_count([s.metrics["sharpe_per_bar"] for s in series.values()], "prior")
    excess = stats.trial_count([float(sharpe_per_bar(d)) for d in diffs.values()], "prior")
    rows = []
    for name, s in series.items():
        row = series_row(s)
        row["years"] = (len(s.equity) - 1) / ppy
        row["turnover_yr"] = row["turnover"] / row["years"]
        row["costs"] = s.metrics["costs_fraction"]
        row["psr"] = s.metrics["psr"]
        row["dsr"] = stats.deflated_sharpe_ratio(returns_of(s), own.n_trials, own.sharpe_variance)
        row.update(dict.fromkeys(("x_ret", "x_sh", "x_psr", "x_dsr"), float("nan")))
        if name != PRIOR:  # the prior against itself has no excess
            x = excess_group(s.equity, prior, ppy)
            row["x_ret"], row["x_sh"], row["x_psr"] = (
                x["excess_return"], x["excess_sharpe"], x["excess_psr"],
            )  # fmt: skip
            row["x_dsr"] = stats.deflated_sharpe_ratio(
                diffs[name], excess.n_trials, excess.sharpe_variance
            )
        rows.append({"name": name, **row})  # type: ignore[dict-item]
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    bh = next(r for r in rows if r["name"] == BH)
    print(
        f"{'policy':<18}{'sharpe':>7}{'return':>9}{'maxdd':>7}{'turn/yr':>8}{'costs':>7}"
        f"{'psr':>6}{'dsr':>6}{'x_ret':>8}{'x_sh':>6}{'x_psr':>6}{'x_dsr':>6}"
        f"{'sh/bh':>6}{'dd/bh':>6}"
    )
    for r in rows:
        print(
            f"{r['name']:<18}{r['sharpe']:>7.2f}{r['total_return']:>9.2f}"
            f"{r['max_drawdown']:>7.2f}{r['turnover_yr']:>8.1f}{r['costs']:>7.3f}"
            f"{r['psr']:>6.2f}{r['dsr']:>6.2f}{r['x_ret']:>8.2f}{r['x_sh']:>6.2f}"
            f"{r['x_psr']:>6.2f}{r['x_dsr']:>6.2f}{ratio(r['sharpe'], bh['sharpe']):>6.2f}"
            f"{ratio(r['max_drawdown'], bh['max_drawdown']):>6.2f}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="stores and data (default: a temp dir)")
    parser.add_argument("--csv", default=str(DEFAULT_CSV))
    parser.add_argument("--data-dir", default=None, help="candle store (default: under --root)")
    parser.add_argument("--end", default="2025-03-31", help="last day used (never later)")
    parser.add_argument("--test-months", type=int, default=6)
    parser.add_argument("--segments", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--quick", action="store_true", help="the first two 3-month windows")
    parser.add_argument("--agents", action="store_true", help="also the default agent (hours)")
    parser.add_argument("--ensemble", action="store_true", help="with --agents: the ensemble")
    parser.add_argument("--timesteps", type=int, default=65_536, help="--agents: per segment")
    args = parser.parse_args()
    if args.end > "2025-03-31":
        parser.error("--end after 2025-03-31: that period is kept for honest checks")
    if args.quick:
        args.test_months, args.segments = 3, [0, 1]
    return args


def report(rows: list[dict[str, Any]], segments: list[Any], args: argparse.Namespace) -> None:
    named = {r["name"]: r for r in rows}
    bh, prior = named[BH], named[PRIOR]
    print(
        f"stitched out of sample: {len(segments)} test windows of {args.test_months} months, "
        f"{segments[0].test_start:%Y-%m}..{segments[-1].test_stop - np.timedelta64(1, 'h'):%Y-%m}"
        f" ({prior['years']:.2f} years); Sharpe annualised; N = {len(rows)} configurations "
        f"(every row) in each DSR; ratios against buy-and-hold"
    )
    print_table(rows)
    seeds = [r for n, r in named.items() if n.startswith("default ")]
    goal = [
        r["sharpe"] >= prior["sharpe"] + 0.1
        and abs(r["max_drawdown"]) <= 0.5 * abs(bh["max_drawdown"])
        for r in seeds
    ]
    if seeds:
        print(f"goal (Sharpe >= prior + 0.1, max DD <= half of buy-and-hold's): "
              f"{sum(goal)}/{len(goal)} seeds")  # fmt: skip
    agent = f" goal_seeds={sum(goal)}/{len(goal)}" if seeds else ""
    print(
        f"RESULT prior_sharpe={prior['sharpe']:.3f} prior_return={prior['total_return']:.3f} "
        f"prior_max_drawdown={prior['max_drawdown']:.3f} "
        f"prior_turnover_yr={prior['turnover_yr']:.2f} prior_costs={prior['costs']:.4f} "
        f"bh_sharpe={bh['sharpe']:.3f} bh_return={bh['total_return']:.3f} "
        f"bh_max_drawdown={bh['max_drawdown']:.3f} "
        f"sharpe_ratio={ratio(prior['sharpe'], bh['sharpe']):.3f} "
        f"drawdown_ratio={ratio(prior['max_drawdown'], bh['max_drawdown']):.3f} "
        f"prior_psr={prior['psr']:.3f} prior_dsr={prior['dsr']:.3f} "
        f"n_trials={len(rows)}{agent}"
    )


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from btcrl.data.timeframes import periods_per_year

    with tempfile.TemporaryDirectory(prefix="btcrl-prior-") as tmp:
        args.root = args.root or tmp
        Path(args.root).mkdir(parents=True, exist_ok=True)
        config = base_config(args, args.data_dir or str(Path(args.root) / "data"))
        segments, series = rule_series(config)
        if args.agents:
            args.data_dir = config.data.data_dir
            series.update(agent_series(args))
        report(table_rows(series, periods_per_year("1h")), segments, args)


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    sys.exit(main())
