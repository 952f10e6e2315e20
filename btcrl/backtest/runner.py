"""``run_backtest``: a model (or a rule baseline) on a period -> ledger, metrics, plots, MLflow.

Steps, in order; nothing is logged or kept until every file of the result exists:

1. resolve the policy (model URI | rule) and the period (``backtest.start/end``, else
   ``data.start/end``);
2. build the period's FeatureSet (``load_feature_set``) with the model's features config
   (``backtest.use_model_config``) and check it against the model's FeatureSpec
   (CompatibilityError at the first difference; another symbol or exchange is a warning);
3. compare the period with the model's train and validation spans (tags of its source run):
   overlap is a warning and tag ``btcrl.overlaps_training=true``, an error with ``strict``;
4. run the episode in TradingEnv mode ``backtest`` with the deterministic policy, and
   buy-and-hold over the same bars (the benchmark);
5. write steps.csv, trades.csv, summary.json, metrics.json, config.yaml, feature_spec.json and
   plots/ into a temporary directory, then log them to one MLflow run (experiment
   ``backtest.experiment``, or the parent run's experiment for a nested run) with the
   headline metrics and tags, and/or move them to ``backtest.output_dir``.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btcrl.backtest import artifacts
from btcrl.backtest.episode import Episode, backtest_env_config, run_episode
from btcrl.backtest.ledger import collect_steps, extract_trades
from btcrl.backtest.plots import equity_frame, write_plots
from btcrl.backtest.policies import buy_and_hold_policy
from btcrl.backtest.report import build_metrics, equity_curve, headline_metrics
from btcrl.backtest.setup import BacktestPlan, prepare
from btcrl.config import ExperimentConfig, dump_config, flatten_config
from btcrl.data.timeframes import periods_per_year, timeframe_seconds
from btcrl.env import LEDGER_FIELDS
from btcrl.errors import DataError
from btcrl.features.spec import FeatureSet
from btcrl.tracking.lookup import experiment_name_of

log = logging.getLogger(__name__)


@dataclass
class BacktestResult:
    """What a backtest produced. ``run_id`` is None when tracking is off; ``output_dir`` is
    where the files were kept (None when they went to MLflow only)."""

    run_id: str | None
    label: str
    metrics: dict[str, Any]
    headline: dict[str, float]
    summary: dict[str, Any]
    steps: pd.DataFrame
    trades: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output_dir: Path | None = None


def run_backtest(
    config: ExperimentConfig,
    *,
    model_uri: str | None = None,
    policy: str | None = None,
    parent_run_id: str | None = None,
) -> BacktestResult:
    """Backtest ``model_uri`` or the rule ``policy`` (else ``config.backtest.model/policy``)
    on ``config.backtest.start..end`` (else ``config.data.start..end``); see the module doc.

    Raises ConfigError (bad period or policy), DataError (no data), CompatibilityError (the
    model does not fit the data, or an overlap under ``strict``) and BtcrlError (unknown
    model) before anything is logged.
    """
    plan = prepare(config, model_uri=model_uri, policy=policy)
    fs = plan.features
    env_config = backtest_env_config(plan.env, config.backtest.force_close)
    episode = run_episode(fs, env_config, plan.policy, seed=config.seed)
    if plan.rule == "buy_and_hold":
        bench = episode
    else:
        bench_env = backtest_env_config(plan.rule_env, config.backtest.force_close)
        bench = run_episode(
            fs, bench_env, buy_and_hold_policy(len(fs), bench_env.leverage_limit), seed=config.seed
        )
    steps = collect_steps(fs, episode.observations, episode.actions, episode.ledger, LEDGER_FIELDS)
    trades = extract_trades(steps)
    bench_steps = collect_steps(fs, bench.observations, bench.actions, bench.ledger, LEDGER_FIELDS)
    bench_trades = extract_trades(bench_steps)
    ppy = periods_per_year(fs.spec.timeframe)
    run_meta = plan.run_metadata(steps, ppy, config)
    try:
        metrics = build_metrics(
            steps=steps,
            trades=trades,
            bench_steps=bench_steps,
            bench_trades=bench_trades,
            initial_balance=env_config.initial_balance,
            periods_per_year=ppy,
            risk_free_rate=config.backtest.risk_free_rate,
            run=run_meta,
            reward_name=env_config.reward,
            bar_seconds=timeframe_seconds(fs.spec.timeframe),
            n_expected=plan.bars_expected,
        )
    except ValueError as exc:  # e.g. bankrupt on the first bar: too few points for metrics
        raise DataError(f"cannot compute metrics for {plan.label}: {exc}") from None
    headline = headline_metrics(metrics)
    summary = artifacts.summary(plan, metrics, steps, trades, config)
    logged_config = plan.logged_config(config)
    result = BacktestResult(
        run_id=None,
        label=plan.label,
        metrics=metrics,
        headline=headline,
        summary=summary,
        steps=steps,
        trades=trades,
        warnings=list(plan.warnings),
    )
    with tempfile.TemporaryDirectory(prefix="btcrl-backtest-") as tmp:
        out = Path(tmp) / "result"
        out.mkdir()
        artifacts.write_tables(out, steps, trades)
        artifacts.write_json(out / "metrics.json", metrics)
        (out / "config.yaml").write_text(dump_config(logged_config))
        (out / "feature_spec.json").write_text(fs.spec.to_json())
        if config.backtest.plots:
            frame = _plot_frame(fs, episode, bench, steps, env_config.initial_balance)
            result.notes += write_plots(
                frame, trades, out / "plots", ppy, plan.label, png=config.backtest.png
            )
        summary["notes"] = result.notes
        artifacts.write_json(out / "summary.json", summary)
        if config.tracking.enabled:
            result.run_id = _log_run(config, plan, logged_config, out, headline, parent_run_id)
        if config.backtest.output_dir is not None:
            result.output_dir = artifacts.move_into_place(out, config.backtest.output_dir)
    log.info("backtest %s: %s", plan.label, headline)
    return result


def backtest_after_training(
    config: ExperimentConfig, model_uri: str, parent_run_id: str | None
) -> dict[str, float]:
    """Backtest a just-trained model on ``config.backtest.start..end`` as a nested run of
    ``parent_run_id``, whose metrics get the headline as ``backtest/*``; returns the headline."""
    from btcrl.tracking import log_metrics

    result = run_backtest(config, model_uri=model_uri, parent_run_id=parent_run_id)
    if parent_run_id:
        log_metrics({f"backtest/{k}": v for k, v in result.headline.items()}, run_id=parent_run_id)
    return dict(result.headline)


def _plot_frame(
    fs: FeatureSet, episode: Episode, bench: Episode, steps: pd.DataFrame, initial: float
) -> pd.DataFrame:
    rows = np.arange(episode.start_row, episode.start_row + len(steps) + 1)
    times = pd.DatetimeIndex(pd.to_datetime(fs.times[rows], utc=True), name="time")
    close = fs.prices[rows, 3]
    position = np.concatenate([[0.0], steps["position"].to_numpy()])
    bench_equity = np.concatenate([[bench.initial_balance], bench.field("equity")])
    if len(bench_equity) < len(times):  # buy-and-hold went bankrupt first: flat after that
        bench_equity = np.pad(bench_equity, (0, len(times) - len(bench_equity)), mode="edge")
    return equity_frame(
        times, equity_curve(steps, initial), bench_equity[: len(times)], close, position
    )


def _experiment_for(config: ExperimentConfig, parent_run_id: str | None) -> str:
    """A nested run goes into its parent's experiment (the MLflow UI nests runs only there)."""
    if not parent_run_id:
        return config.backtest.experiment
    return experiment_name_of(parent_run_id) or config.backtest.experiment


def _log_run(
    config: ExperimentConfig,
    plan: BacktestPlan,
    logged_config: ExperimentConfig,
    out: Path,
    headline: dict[str, float],
    parent_run_id: str | None,
) -> str:
    from btcrl.tracking import (
        configure_tracking,
        log_artifacts,
        log_candles,
        log_metrics,
        log_params,
        start_run,
    )

    configure_tracking(config.tracking)
    with start_run(
        _experiment_for(config, parent_run_id),
        stage="backtest",
        run_name=f"backtest {plan.label} {plan.period_text}",
        tags=plan.tags(),
        parent_run_id=parent_run_id,
    ) as run:
        log_params(flatten_config(logged_config))
        log_candles(plan.features, config.data.source, "backtest")
        log_metrics(headline)
        log_artifacts(out)
        run_id = str(run.info.run_id)
    return run_id
