"""The seed ensemble's share of a walk-forward's logging (``walkforward.ensemble``).

- Its own run, nested under the parent (found again by a later aggregation): a trial-ledger
  entry (another policy judged on the same windows) holding its stitched metrics as
  ``stitched/*`` (so the leaderboard ranks it beside walk-forwards), its PSR and DSR, and its
  ``oos_returns.csv`` (what ``btcrl promote`` reads of a challenger).
- To register it: one run per segment, nested under the parent, holding that segment's
  ensemble as one pyfunc model (``btcrl.agents.ensemble.log_ensemble_model``).
"""

import logging
from pathlib import Path

import numpy as np

from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, write_oos_returns
from btcrl.config import EnvConfig, ExperimentConfig
from btcrl.features.spec import FeatureSet
from btcrl.tracking import tags as tag_names
from btcrl.walkforward.aggregate import ENSEMBLE, Aggregate

log = logging.getLogger(__name__)


def ensemble_run(config: ExperimentConfig, parent: str) -> str:
    """The ensemble's run under ``parent`` (made once, found again on a re-aggregation)."""
    from btcrl.tracking.walkforward import child_run

    wf = config.walkforward
    name = ensemble_name(config)
    match = {
        tag_names.WALKFORWARD_SEED: ENSEMBLE,
        tag_names.WALKFORWARD_NAME: wf.name,
        tag_names.RUN_NAME: name,
    }
    return child_run(wf.experiment, parent, name, match, without=tag_names.WALKFORWARD_SEGMENT)


def ensemble_name(config: ExperimentConfig) -> str:
    """``walkforward-<name>-ensemble-s0-1-2``: the run name of the ensemble of these seeds
    (another set of seeds is another ensemble: another run and ledger entry)."""
    seeds = "-".join(str(seed) for seed in config.walkforward.seeds)
    return f"walkforward-{config.walkforward.name}-{ENSEMBLE}-s{seeds}"


def log_ensemble(agg: Aggregate, run_id: str, tmp: Path) -> None:
    """The ensemble's stitched metrics on its run (``stitched/*``, as a walk-forward
    parent's) with its PSR and DSR, the N they counted, and its ``oos_returns.csv``."""
    from btcrl.tracking.walkforward import log_results

    if agg.ensemble is None:
        return
    prefix = f"{ENSEMBLE}/"
    metrics = {
        f"stitched/{k.removeprefix(prefix)}": v
        for k, v in agg.metrics.items()
        if k.startswith(prefix) and "/" not in k.removeprefix(prefix)
    }
    metrics["stats/psr"] = agg.metrics[f"{ENSEMBLE}/psr"]
    metrics["stats/dsr"] = agg.metrics.get(f"{ENSEMBLE}/dsr", float("nan"))
    n_trials = str(agg.trials.n_trials) if agg.trials is not None else "1"
    out = tmp / ENSEMBLE
    out.mkdir(exist_ok=True)
    equity = agg.ensemble.equity
    write_oos_returns(
        out / OOS_RETURNS_ARTIFACT, agg.ensemble.times[1:], equity[1:] / equity[:-1] - 1.0
    )
    log_results(run_id, metrics, {tag_names.LEDGER_N_TRIALS: n_trials}, artifacts=out)


def ensemble_model_run(
    config: ExperimentConfig, agg: Aggregate, parent: str, segment: int, tmp: Path
) -> str:
    """The run holding segment ``segment``'s ensemble as a pyfunc model (made once), tagged
    with the segment's primary-seed run's market and span tags (the registry copies them)."""
    from btcrl.agents.ensemble import log_ensemble_model
    from btcrl.tracking.lookup import run_tags
    from btcrl.tracking.walkforward import child_run

    ensemble, fs, env = agg.ensemble_models[segment]
    row = agg.table[(agg.table["segment"] == segment) & (agg.table["seed"] == agg.seeds[0])]
    source = run_tags(str(row["run_id"].iloc[0]))
    copied = {k: source[k] for k in _COPIED_TAGS if k in source}
    wf = config.walkforward
    name = f"{ensemble_name(config)}-seg{segment}"
    match = {
        tag_names.WALKFORWARD_SEED: ENSEMBLE,
        tag_names.WALKFORWARD_SEGMENT: str(segment),
        tag_names.RUN_NAME: name,
        **copied,
    }
    example = first_observation(fs, env)
    return child_run(
        wf.experiment,
        parent,
        name,
        match,
        fill=lambda: log_ensemble_model(ensemble, example, tmp / f"{ENSEMBLE}-seg{segment}"),
    )


#: the tags of a segment's train run that its ensemble's model run carries too
_COPIED_TAGS = (
    tag_names.ALGO,
    tag_names.SOURCE,
    tag_names.EXCHANGE,
    tag_names.SYMBOL,
    tag_names.TIMEFRAME,
    tag_names.DATA_HASH,
    tag_names.TRAIN_START,
    tag_names.TRAIN_END,
    tag_names.VAL_START,
    tag_names.VAL_END,
)


def first_observation(fs: FeatureSet, env: EnvConfig) -> np.ndarray:
    """The first observation of an episode over ``fs`` under ``env``, (1, obs_size) float32:
    a model's input example."""
    from btcrl.env import BatchTradingEnv

    batch = BatchTradingEnv(fs, env, 1, 0, "eval")
    try:
        return np.asarray(batch.reset(), dtype=np.float32)
    finally:
        batch.close()
