"""After the study: retrain the best configuration on every bar before the held-back window,
test it once on that window, and make it the registry's challenger.

The retrain is the walk-forward fold path (:func:`btcrl.tune.oos.train_fold`) on the
held-back segment of :func:`btcrl.tune.folds.inner_split` (train from the first bar, the last
``walkforward.val_months`` before the window as the validation tail) at the trial budget
(``tune.budget_timesteps``, not divided by the folds). Its test is one window of the backtest
engine with buy-and-hold beside it. The parent run gets ``heldback/*`` metrics and
``selection_summary.json`` / ``selection_summary.md``: the in-sample best (what the study
selected on) and the held-back result side by side.
"""

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.tracking import log_artifact, log_metrics, tags
from btcrl.tune.folds import InnerSplit
from btcrl.tune.oos import Stitched, log_returns, trade_fold, train_fold
from btcrl.tune.selection import SelectionStats

log = logging.getLogger(__name__)

SIDE_BY_SIDE = ("sharpe", "total_return", "max_drawdown", "excess_sharpe", "exposure")


@dataclass
class Heldback:
    """The retrained model and its one evaluation on the held-back window."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]  # heldback/* (oos_metrics keys renamed)
    window: tuple[date, date]  # inclusive UTC days


def retrain_and_test(
    config: ExperimentConfig,
    overrides: dict[str, Any],
    split: InnerSplit,
    candles: pd.DataFrame,
    parent_run_id: str,
) -> Heldback | None:
    """Retrain ``config`` + the best trial's ``overrides`` and test it on the held-back
    window; None when there is no window (``tune.holdout_months`` = 0)."""
    segment = split.heldback
    if segment is None:
        return None
    final = with_overrides(config, overrides)
    result = train_fold(
        final,
        segment,
        candles,
        parent_run_id=parent_run_id,
        tags={tags.STUDY: config.tune.study, tags.TUNE_PARENT: parent_run_id, tags.HELDBACK: "1"},
        name_prefix="heldback",
    )
    stitched = Stitched()
    trade_fold(final, segment, candles, result, stitched)
    oos = stitched.metrics(final)
    metrics = {f"heldback/{k.removeprefix('oos/')}": v for k, v in oos.items()}
    times, returns = stitched.series()
    log_returns(result.run_id, times, returns)
    window = (segment.test_start.date(), (segment.test_stop - pd.Timedelta(1, "ns")).date())
    return Heldback(result.run_id, result.model_uri, metrics, window)


def side_by_side(
    best_metrics: dict[str, float], prefix: str, held: Heldback | None, sel: SelectionStats
) -> dict[str, Any]:
    """``{metric: {"in_sample_best": x, "heldback": y}}`` plus the selection statistics."""
    table: dict[str, Any] = {}
    for key in SIDE_BY_SIDE:
        table[key] = {
            "in_sample_best": _clean(best_metrics.get(f"{prefix}{key}")),
            "heldback": _clean(held.metrics.get(f"heldback/{key}") if held else None),
        }
    return {
        "metrics": table,
        "n_trials": sel.n_trials,
        "dsr_n": sel.n_deflated,
        "dsr": _clean(sel.dsr),
        "pbo": _clean(sel.pbo),
        "heldback_window": [d.isoformat() for d in held.window] if held else None,
        "heldback_run_id": held.run_id if held else None,
    }


def log_side_by_side(summary: dict[str, Any], held: Heldback | None) -> None:
    """``heldback/*`` metrics and ``selection_summary.json`` / ``.md`` on the active run."""
    if held is not None:
        log_metrics(held.metrics)
    lines = [
        "| metric | in-sample best (what the study selected on) | held-back window |",
        "|---|---:|---:|",
    ]
    for key, row in summary["metrics"].items():
        lines.append(f"| {key} | {_fmt(row['in_sample_best'])} | {_fmt(row['heldback'])} |")
    lines += [
        "",
        f"N = {summary['n_trials']} trials tried; DSR of the best "
        f"{_fmt(summary['dsr'])} (counting N = {summary['dsr_n']}: the trials, or with the "
        f"holdout objective every checkpoint evaluated); PBO {_fmt(summary['pbo'])}",
    ]
    with tempfile.TemporaryDirectory(prefix="btcrl-tune-") as tmp:
        for name, text in (
            ("selection_summary.json", json.dumps(summary, indent=2)),
            ("selection_summary.md", "\n".join(lines) + "\n"),
        ):
            (Path(tmp) / name).write_text(text)
            log_artifact(Path(tmp) / name)


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def register_challenger(
    config: ExperimentConfig,
    held: Heldback,
    sel: SelectionStats,
    windows: list[tuple[date, date]],
    parent_run_id: str,
) -> int | None:
    """Register the retrained model as ``train.model_name`` (default ``btcrl-<algo>``) with
    alias ``challenger`` and the tags ``btcrl promote`` reads: the best trial's DSR and
    per-bar Sharpe over its out-of-sample ``windows``, whose returns the parent run holds
    as ``oos_returns.csv``. None (a warning) when the DSR could not be computed."""
    from btcrl.tracking.aliases import tag_challenger
    from btcrl.tracking.models import register_model

    if sel.best_returns is None or not math.isfinite(sel.dsr):
        log.warning("no DSR for the best trial: the held-back model is not made challenger")
        return None
    series = sel.best_returns
    log_returns(parent_run_id, pd.DatetimeIndex(series.index), series.to_numpy())
    name = config.train.model_name or f"btcrl-{config.agent.algo}"
    version = register_model(held.run_id, name, alias=None)
    data = config.data
    tag_challenger(
        name,
        version,
        dsr=sel.dsr,
        n_trials=sel.n_deflated,
        oos_sharpe=sel.best_sharpe_per_bar,
        parent_run_id=parent_run_id,
        windows=windows,
        tags={
            tags.ALGO: config.agent.algo,
            tags.DATA: f"{data.source} {data.symbol} {data.timeframe}",
            tags.STUDY: config.tune.study,
            tags.HELDBACK_SHARPE: held.metrics.get("heldback/sharpe"),
            tags.HELDBACK_WINDOW: f"{held.window[0]}..{held.window[1]}",
        },
        description=(
            f"tune {config.tune.study}: best configuration retrained before "
            f"{held.window[0]}; out-of-sample DSR {sel.dsr:.3f} over N={sel.n_deflated} "
            f"(trials or checkpoints), held-back Sharpe (annualised) "
            f"{held.metrics.get('heldback/sharpe', math.nan):.3f}; parent run {parent_run_id}"
        ),
    )
    log.info("registered %s version %d (alias challenger)", name, version)
    return version
