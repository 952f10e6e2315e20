"""Choose the default recipe by walk-forward (issue 17.7): stitched out-of-sample results of
candidate recipes against the previous default, buy-and-hold, flat and the best rule.

Every candidate is a file ``configs/recipes/<name>.yaml`` that sets every recipe key (reward,
shaping, curriculum, vol targeting, carry, hysteresis, decision interval, discrete action
levels, shorts, account observation; SAC and TQC their off-policy settings), loaded over the
code defaults and run through ``btcrl.walkforward`` (the code of ``btcrl walkforward``) on the
same segments, with the same training budget, one walk-forward
(Optuna study + MLflow parent run) per recipe under ``--root``. A rerun with the same root
trains only what is missing.

1. Screen: every recipe with ``--screen-seeds`` (default seed 0).
2. Finals: ``previous_default`` and the ``--finalists`` best screened recipes by stitched
   Sharpe (the screen's primary seed) again with ``--final-seeds`` (default 0,1,2).
3. The pick, a rule fixed before any result: among the finalists, the best mean stitched
   Sharpe over the final seeds whose mean turnover is at most half of previous_default's.

Baselines (buy-and-hold, flat, each configured rule strategy) are the walk-forward's own
windows of the ``previous_default`` run: unlevered, carry-free, shorts as the rules allow.
The DSR of every row counts every configuration this comparison tried (``n_trials`` =
recipes x seeds run), with the variance of the per-bar stitched Sharpe ratios across all of
them: the benchmark passes its own N and V (``btcrl.metrics.stats.trial_count``), not the
tracking store's trial ledger, which also counts each recipe's walk-forward parent on these
windows (one per recipe) in the parents' own ``stats/dsr``. With N = 1 the column is the PSR.

Units: Sharpe annualised (sqrt(8760) on 1h bars), CAGR, max drawdown (<= 0), fees and PnL
before costs are fractions of the starting capital; turnover is traded notional over mean
equity (times). The ratios are against previous_default in the same run. The goal (issue 17):
Sharpe above buy-and-hold's at no more than half its max drawdown, on every final seed.
Usage::

    nice -n 10 .venv/bin/python benchmarks/recipe.py --root /tmp/recipe/bench \
        --data-dir /tmp/recipe/data --test-months 6 --train-months 18 --timesteps 65536
"""

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "configs" / "recipes"
REFERENCE = "previous_default"
SCREEN = (
    REFERENCE,
    "ppo_curriculum",
    "ppo_voltarget",
    "ppo_curriculum_voltarget",
    "ppo_curriculum_decision4",
    "ppo_curriculum_hysteresis",
    "ppo_curriculum_long_only",
    "ppo_curriculum_scale_free",
    "ppo_controls",
    "ppo_curriculum_long_only_sizes",
    "ppo_curriculum_flat_long",
    "ppo_curriculum_short_flat_long",
    "ppo_flat_long",
    "ppo_curriculum_long_only_slow_context",
    "sac",
    "tqc",
)
CAPTURED: list[Any] = []  # the Aggregate of the latest walk-forward


def capture_aggregates() -> None:
    """Keep each walk-forward's ``Aggregate`` (stitched equity and steps of every seed and
    baseline) as ``run_walkforward`` computes it, without changing it."""
    import btcrl.walkforward.aggregate as module

    original: Callable[..., Any] = module.aggregate

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        CAPTURED.append(result)
        return result

    module.aggregate = wrapper  # type: ignore[assignment]


def recipe_config(
    name: str, args: argparse.Namespace, seeds: tuple[int, ...], label: str | None = None
) -> Any:
    """``configs/recipes/<name>.yaml`` over the code defaults, on the benchmark's data,
    split, budget and stores; its walk-forward is called ``label`` (default: ``name``)."""
    from btcrl.config import load_config, with_overrides

    root = Path(args.root)
    values: dict[str, Any] = {
        "data.source": f"csv:{args.csv}",
        "data.symbol": "BTC/USDT",
        "data.timeframe": "1h",
        "data.end": args.end,
        "data.data_dir": args.data_dir,
        "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
        "train.total_timesteps": args.timesteps,
        "train.eval_every": max(1, args.timesteps // 2),
        "train.system_metrics": False,
        "walkforward.train_months": args.train_months,
        "walkforward.val_months": args.val_months,
        "walkforward.test_months": args.test_months,
        "walkforward.step_months": args.test_months,
        "walkforward.segments": args.segments,
        "walkforward.seeds": list(seeds),
        "walkforward.name": label or name,
        "walkforward.storage": f"sqlite:///{root / 'studies.db'}",
        "walkforward.register_model": False,
        "walkforward.workers": args.workers,
    }
    if getattr(args, "ensemble", False):  # evaluated from the finished members: no training
        values["walkforward.ensemble"] = True
    return with_overrides(load_config(RECIPES / f"{name}.yaml"), values)


def recipe_key(config: Any) -> str:
    """What makes a recipe (features, env, agent, train without budget and bookkeeping)."""
    dump = config.model_dump(mode="json", include={"features", "env", "agent", "train"})
    for key in ("total_timesteps", "eval_every", "system_metrics", "experiment", "torch_threads"):
        dump["train"].pop(key, None)
    return repr(sorted((k, repr(v)) for k, v in dump.items()))


def run_recipe(
    name: str, args: argparse.Namespace, seeds: tuple[int, ...], label: str | None = None
) -> Any:
    """Run (or resume) the recipe's walk-forward ``label`` (default: ``name``) for ``seeds``;
    its Aggregate."""
    from btcrl.walkforward import run_walkforward

    CAPTURED.clear()
    result = run_walkforward(recipe_config(name, args, seeds, label))
    label = label or name
    if not CAPTURED or CAPTURED[-1] is None:
        raise SystemExit(f"{label}: no segment finished for every seed ({result.finished} jobs)")
    log = logging.getLogger("recipe")
    log.warning("%s seeds %s: %d jobs trained", label, seeds, result.trained)
    return CAPTURED[-1]


def series_row(stitched: Any) -> dict[str, float]:
    """Headline numbers of one stitched series (fractions of the starting capital)."""
    m = stitched.metrics
    return {
        "sharpe": m["sharpe"],
        "sharpe_per_bar": m["sharpe_per_bar"],
        "cagr": m["cagr"],
        "max_drawdown": m["max_drawdown"],
        "turnover": m["turnover"],
        "fees": m["fees_fraction"],
        "pnl_before_costs": m["return_before_costs"],
        "total_return": m["total_return"],
    }


def ratio(value: float, reference: float) -> float:
    """value / reference, NaN when the reference is 0."""
    return value / reference if reference else float("nan")


def returns_of(stitched: Any) -> np.ndarray:
    return stitched.equity[1:] / stitched.equity[:-1] - 1.0


def mean_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def print_table(
    table: list[tuple[str, int, dict[str, float], float]], ref: dict[str, float]
) -> None:
    head = (
        f"{'policy':<36}{'seeds':>6}{'sharpe':>8}{'min':>7}{'cagr':>8}{'maxdd':>8}"
        f"{'turnover':>10}{'fees':>7}{'pnl_pre':>8}{'dsr':>6}{'turn/ref':>9}{'fees/ref':>9}"
    )
    print(head)
    for label, n_seeds, row, dsr in table:
        turn = ratio(row["turnover"], ref["turnover"])
        fees = ratio(row["fees"], ref["fees"])
        low = row.get("sharpe_min", row["sharpe"])
        print(
            f"{label:<36}{n_seeds:>6}{row['sharpe']:>8.2f}{low:>7.2f}"
            f"{row['cagr']:>8.3f}{row['max_drawdown']:>8.3f}{row['turnover']:>10.1f}"
            f"{row['fees']:>7.3f}{row['pnl_before_costs']:>8.3f}{dsr:>6.2f}{turn:>9.3f}{fees:>9.3f}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/btcrl-recipe", help="stores (reused on rerun)")
    parser.add_argument("--csv", default=str(ROOT.parent / "shared/data/BTCUSDT_1h_binance.csv"))
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--end", default="2025-03-31", help="last day used (never later)")
    parser.add_argument("--train-months", type=int, default=18)
    parser.add_argument("--val-months", type=int, default=3)
    parser.add_argument("--test-months", type=int, default=6)
    parser.add_argument("--segments", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--timesteps", type=int, default=65_536, help="env-steps per segment")
    parser.add_argument("--recipes", type=lambda s: tuple(s.split(",")), default=SCREEN)
    parser.add_argument(
        "--screen-seeds", type=lambda s: tuple(map(int, s.split(","))), default=(0,)
    )
    parser.add_argument(
        "--final-seeds", type=lambda s: tuple(map(int, s.split(","))), default=(0, 1, 2)
    )
    parser.add_argument("--finalists", type=int, default=3, help="besides previous_default")
    parser.add_argument("--workers", type=int, default=1, help="walk-forward worker processes")
    args = parser.parse_args()
    if args.end > "2025-03-31":
        parser.error("--end after 2025-03-31: that period is kept for honest checks")
    if REFERENCE not in args.recipes:
        parser.error(f"--recipes must include {REFERENCE}")
    return args


def recipe_rows(agg: Any, n_trials: int, variance: float) -> tuple[dict, float]:
    """Mean over seeds (worst max drawdown, lowest Sharpe as ``sharpe_min``) and the DSR of
    the primary seed counting ``n_trials`` configurations."""
    from btcrl.metrics import stats

    rows = [series_row(agg.models[seed]) for seed in agg.seeds]
    row = mean_row(rows)
    row["sharpe_min"] = min(r["sharpe"] for r in rows)
    row["max_drawdown"] = min(r["max_drawdown"] for r in rows)
    row["per_seed"] = rows  # type: ignore[assignment]
    dsr = stats.deflated_sharpe_ratio(returns_of(agg.primary), n_trials, variance)
    return row, dsr


def psr(stitched: Any) -> float:
    from btcrl.metrics import stats

    try:
        return stats.probabilistic_sharpe_ratio(returns_of(stitched))
    except ValueError:
        return float("nan")


def default_name(names: list[str]) -> str | None:
    """The candidate whose recipe equals configs/default.yaml's, if any."""
    from btcrl.config import load_config

    shipped = recipe_key(load_config(ROOT / "configs" / "default.yaml"))
    for name in names:
        if recipe_key(load_config(RECIPES / f"{name}.yaml")) == shipped:
            return name
    return None


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    Path(args.root).mkdir(parents=True, exist_ok=True)
    capture_aggregates()
    results = {name: run_recipe(name, args, args.screen_seeds) for name in args.recipes}
    ranked = sorted(
        (n for n in args.recipes if n != REFERENCE),
        key=lambda n: results[n].primary.metrics["sharpe"],
        reverse=True,
    )
    finals = [REFERENCE, *ranked[: args.finalists]]
    if set(args.final_seeds) - set(args.screen_seeds):
        seeds = tuple(dict.fromkeys((*args.screen_seeds, *args.final_seeds)))
        for name in finals:
            results[name] = run_recipe(name, args, seeds)
    from btcrl.metrics import stats

    per_bar = [m.metrics["sharpe_per_bar"] for a in results.values() for m in a.models.values()]
    trials = stats.trial_count(per_bar, "recipe comparison")
    n_trials, variance = trials.n_trials, trials.sharpe_variance
    table = []
    rows: dict[str, dict] = {}
    shipped = default_name(list(args.recipes))
    for name in [*finals, *ranked[args.finalists :]]:
        row, dsr = recipe_rows(results[name], n_trials, variance)
        rows[name] = row
        label = f"{name}{' (default)' if name == shipped else ''}"
        table.append((label, len(results[name].seeds), row, dsr))
    base = results[REFERENCE].baselines
    rules = [n for n in base if n.startswith("strategy:")]
    best_rule = max(rules, key=lambda n: base[n].metrics["sharpe"]) if rules else None
    for name in ("buy_and_hold", "flat", *([best_rule] if best_rule else [])):
        table.append((name, 0, series_row(base[name]), psr(base[name])))
    ref = rows[REFERENCE]
    segments = results[REFERENCE].segments
    print(
        f"walk-forward {args.train_months}/{args.val_months}/{args.test_months} months, "
        f"{len(segments)} segments {segments[0].test_start:%Y-%m}"
        f"..{segments[-1].test_stop:%Y-%m}, {args.timesteps:,} env-steps each, "
        f"n_trials={n_trials} (Sharpe variance per bar {variance:.3g}); Sharpe annualised"
        f"{'; N = 1: the dsr column is the PSR' if trials.single else ''}"
    )
    print_table(table, ref)
    eligible = [n for n in finals[1:] if rows[n]["turnover"] <= 0.5 * ref["turnover"]]
    pick = max(eligible, key=lambda n: rows[n]["sharpe"]) if eligible else REFERENCE
    bh = series_row(base["buy_and_hold"])
    seeds_ok = [
        r["sharpe"] > bh["sharpe"] and abs(r["max_drawdown"]) <= 0.5 * abs(bh["max_drawdown"])
        for r in rows[pick]["per_seed"]
    ]
    print(
        f"pick: {pick} (best mean Sharpe among finalists with turnover <= 0.5x {REFERENCE}); "
        f"goal met on {sum(seeds_ok)}/{len(seeds_ok)} seeds: lowest seed Sharpe "
        f"{rows[pick]['sharpe_min']:.2f} vs buy-and-hold {bh['sharpe']:.2f}, worst max drawdown "
        f"{rows[pick]['max_drawdown']:.3f} vs the allowed {0.5 * bh['max_drawdown']:.3f}"
    )
    print(
        f"RESULT pick={pick} sharpe={rows[pick]['sharpe']:.3f} "
        f"sharpe_min={rows[pick]['sharpe_min']:.3f} max_drawdown={rows[pick]['max_drawdown']:.3f} "
        f"previous_sharpe={ref['sharpe']:.3f} bh_sharpe={bh['sharpe']:.3f} "
        f"bh_max_drawdown={bh['max_drawdown']:.3f} "
        f"turnover_ratio={ratio(rows[pick]['turnover'], ref['turnover']):.3f} "
        f"fees_ratio={ratio(rows[pick]['fees'], ref['fees']):.3f} "
        f"dsr={table[finals.index(pick)][3]:.3f} "
        f"n_trials={n_trials} goal_seeds={sum(seeds_ok)}/{len(seeds_ok)}"
    )


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    sys.exit(main())
