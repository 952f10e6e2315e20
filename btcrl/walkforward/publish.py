"""Log a walk-forward's aggregate: out-of-sample metrics on each job's run, the parent's entry
in the trial ledger and the DSR it gives, the stitched results and files on the parent, and
the latest segment's model in the registry."""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from btcrl.backtest.artifacts import write_tables
from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, write_oos_returns
from btcrl.config import ExperimentConfig
from btcrl.metrics.stats import TrialCount, trial_count
from btcrl.tracking import tags as tag_names
from btcrl.walkforward.aggregate import ENSEMBLE, Aggregate, deflate
from btcrl.walkforward.oos import BUY_AND_HOLD
from btcrl.walkforward.publish_ensemble import ensemble_model_run, ensemble_run, log_ensemble
from btcrl.walkforward.report import write_report

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
LEDGER_ARTIFACT = "trial_ledger.csv"
_NS = pd.Timedelta(1, "ns")


def model_name(config: ExperimentConfig) -> str:
    """Registry name: ``walkforward.model_name`` or ``btcrl-wf-<algo>``."""
    return config.walkforward.model_name or f"btcrl-wf-{config.agent.algo}"


def write_files(agg: Aggregate, title: str, out: Path) -> None:
    """segments.csv, steps.csv / trades.csv (stitched, primary seed), baselines.csv,
    summary.json and report.html into ``out``."""
    agg.table.to_csv(out / "segments.csv", index=False)
    if agg.trials is not None:  # which runs the DSR counted
        counted = {"run": agg.trials.counted, "sharpe_per_bar": agg.trials.sharpes}
        pd.DataFrame(counted).to_csv(out / LEDGER_ARTIFACT, index=False)
    primary = agg.primary
    write_tables(out, primary.steps, primary.trades)
    returns = primary.equity[1:] / primary.equity[:-1] - 1.0
    write_oos_returns(out / OOS_RETURNS_ARTIFACT, primary.times[1:], returns)  # btcrl promote
    rows = [{"policy": f"model seed {seed}", **m.metrics} for seed, m in agg.models.items()]
    if agg.ensemble is not None:
        rows.append({"policy": f"{ENSEMBLE} of seeds", **agg.ensemble.metrics})
    rows += [{"policy": name, **b.metrics} for name, b in agg.baselines.items()]
    pd.DataFrame(rows).to_csv(out / "baselines.csv", index=False)
    summary = {
        k: (v if v == v and abs(v) != float("inf") else None) for k, v in agg.metrics.items()
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    write_report(agg, title, out / "report.html")


def statistic_label(trials: TrialCount) -> str:
    """``"DSR"``, or ``"PSR"`` when nothing else was counted (N = 1: no deflation)."""
    return "PSR" if trials.single else "DSR"


def count_trials(agg: Aggregate, parent: str, ensemble_run: str | None = None) -> TrialCount:
    """Record ``parent`` in the trial ledger of the aggregate's window set (with its primary
    seed's stitched per-bar Sharpe), and ``ensemble_run`` with the ensemble's (another
    policy judged on the same windows), and count every entry there: N and V for the DSR."""
    from btcrl.tracking.ledger import (
        WALKFORWARD,
        WALKFORWARD_ENSEMBLE,
        ledger_entries,
        record_entry,
    )

    sharpe = agg.primary.metrics["sharpe_per_bar"]
    record_entry(parent, agg.window_set, sharpe, WALKFORWARD)
    if ensemble_run is not None and agg.ensemble is not None:
        ensemble_sharpe = agg.ensemble.metrics["sharpe_per_bar"]
        record_entry(ensemble_run, agg.window_set, ensemble_sharpe, WALKFORWARD_ENSEMBLE)
    entries = ledger_entries(agg.window_set)
    counted = [f"{e.run_id} {e.run_name}".strip() for e in entries]
    return trial_count([e.sharpe_per_bar for e in entries], "trial ledger", counted)


def log_aggregate(
    config: ExperimentConfig,
    agg: Aggregate,
    parent: str,
    tmp: Path,
    trials: TrialCount | None = None,
) -> int | None:
    """Log everything; returns the registered version (None when nothing new was
    registered). ``trials``: N and V for the DSR when the caller counted them itself (a
    comparison it ran); None = the trial ledger's count (:func:`count_trials`).
    ``agg.metrics`` gets the DSR in place (:func:`btcrl.walkforward.aggregate.deflate`)."""
    from btcrl.tracking.walkforward import log_results

    ensemble = ensemble_run(config, parent) if agg.ensemble is not None else None
    counted = trials if trials is not None else count_trials(agg, parent, ensemble)
    deflate(agg, counted)

    bench = agg.baselines[BUY_AND_HOLD]
    for _, row in agg.table.iterrows():
        if row["seed"] == ENSEMBLE:
            continue
        seg, seed = int(row["segment"]), int(row["seed"])
        metrics = agg.models[seed].segment_metrics[seg]
        oos = {f"oos/{k}": v for k, v in metrics.items()}
        bh = bench.segment_metrics.get(seg, {}).get("total_return", float("nan"))
        oos["oos/bh_return"] = bh
        oos["oos/alpha"] = metrics["total_return"] - bh
        log_results(str(row["run_id"]), oos, {tag_names.WALKFORWARD_PARENT_RUN: parent})
    out = tmp / "walkforward"
    out.mkdir()
    write_files(agg, f"walk-forward {config.walkforward.name}", out)
    tags = {
        tag_names.WALKFORWARD_SEGMENTS_STITCHED: f"{len(agg.primary.windows)}/{len(agg.segments)}",
        tag_names.LEDGER_N_TRIALS: str(counted.n_trials),
        tag_names.LEDGER_STATISTIC: statistic_label(counted),
    }
    log_results(parent, agg.metrics, tags, artifacts=out)
    if ensemble is not None:
        log_ensemble(agg, ensemble, tmp)
    if not config.walkforward.register_model:
        return None
    if ensemble is not None:  # the latest segment's ensemble is the model
        return _register_latest(
            config, agg, parent, _ensemble_registration(config, agg, parent, ensemble, tmp)
        )
    return _register_latest(config, agg, parent, _primary_registration(agg, parent))


@dataclass(frozen=True)
class _Registration:
    """What a walk-forward registers: segment ``segment``'s model logged by run ``run_id``,
    scored by the metrics under ``keys`` (stitched Sharpe, its per-bar value, PSR, DSR) over
    ``windows``, with ``returns_run`` holding its ``oos_returns.csv``; ``what`` names it."""

    segment: int
    run_id: str
    keys: tuple[str, str, str, str]
    windows: list[int]
    returns_run: str
    what: str


def _primary_registration(agg: Aggregate, parent: str) -> _Registration:
    """The primary seed's model of the latest segment."""
    latest = max(w.segment for w in agg.primary.windows)
    row = agg.table[(agg.table["segment"] == latest) & (agg.table["seed"] == agg.seeds[0])]
    keys = ("stitched/sharpe", "stitched/sharpe_per_bar", "stats/psr", "stats/dsr")
    windows = [w.segment for w in agg.primary.windows]
    return _Registration(latest, str(row["run_id"].iloc[0]), keys, windows, parent, "segment")


def _ensemble_registration(
    config: ExperimentConfig, agg: Aggregate, parent: str, ensemble: str, tmp: Path
) -> _Registration:
    """The seeds' ensemble of the latest segment (logged once in a run of its own)."""
    windows = [w.segment for w in agg.ensemble.windows] if agg.ensemble is not None else []
    run_id = ensemble_model_run(config, agg, parent, max(windows), tmp)
    keys = (
        f"{ENSEMBLE}/sharpe",
        f"{ENSEMBLE}/sharpe_per_bar",
        f"{ENSEMBLE}/psr",
        f"{ENSEMBLE}/dsr",
    )
    what = "seed ensemble, segment"
    return _Registration(max(windows), run_id, keys, windows, ensemble, what)


def _register_latest(
    config: ExperimentConfig, agg: Aggregate, parent: str, reg: _Registration
) -> int | None:
    from btcrl.tracking.aliases import tag_challenger
    from btcrl.tracking.lookup import run_tags
    from btcrl.tracking.models import register_model
    from btcrl.tracking.walkforward import log_results, tag_model_version

    if run_tags(parent).get(tag_names.WALKFORWARD_REGISTERED_RUN) == reg.run_id:
        return None  # already registered by an earlier aggregation
    name = model_name(config)
    version = register_model(reg.run_id, name, alias=CHALLENGER)
    segment = agg.segments[[s.index for s in agg.segments].index(reg.segment)]
    trials = agg.trials or TrialCount(1, 0.0, "none")
    label = statistic_label(trials)  # with N = 1 the PSR stands where the DSR would
    sharpe_key, per_bar_key, psr_key, dsr_key = reg.keys
    value = agg.metrics[psr_key if trials.single else dsr_key]
    tags = {
        tag_names.WALKFORWARD_PARENT_RUN: parent,
        tag_names.WALKFORWARD_NAME: config.walkforward.name,
        tag_names.WALKFORWARD_SEGMENT: str(reg.segment),
        tag_names.ALGO: config.agent.algo,
        tag_names.DATA: f"{config.data.source} {config.data.symbol} {config.data.timeframe}",
        **{tag_names.walkforward_span(k): v for k, v in segment.spans().items()},
        tag_names.STITCHED_SHARPE: f"{agg.metrics[sharpe_key]:.4f}",
        tag_names.DSR: f"{agg.metrics[dsr_key]:.4f}",
        tag_names.LEDGER_STATISTIC: label,
    }
    description = (
        f"walk-forward {config.walkforward.name} {reg.what} {reg.segment} (train "
        f"{segment.train_start:%Y-%m-%d}..{segment.train_stop:%Y-%m-%d}); stitched "
        f"out-of-sample Sharpe (annualised) {agg.metrics[sharpe_key]:.3f}, {label} "
        f"{value:.3f} (N = {trials.n_trials} configurations on these windows); parent run "
        f"{parent}"
    )
    tag_model_version(name, version, tags, description)
    spans = {s.index: s for s in agg.segments}
    windows = [(spans[k].test_start.date(), (spans[k].test_stop - _NS).date()) for k in reg.windows]
    tag_challenger(  # the tags btcrl promote reads (docs/selection.md)
        name,
        version,
        dsr=value,
        n_trials=trials.n_trials,
        oos_sharpe=agg.metrics[per_bar_key],
        parent_run_id=reg.returns_run,
        windows=windows,
    )
    log_results(
        parent,
        {},
        {
            tag_names.WALKFORWARD_REGISTERED_RUN: reg.run_id,
            tag_names.REGISTERED_VERSION: str(version),
        },
    )
    log.info("registered %s version %d (alias %s)", name, version, CHALLENGER)
    return version
