"""``run_backtest``: a model (or a rule baseline) on a period -> ledger, metrics, report, MLflow.

Stages, in order, each a function of its own (``benchmarks/backtest.py`` times them); nothing
is logged or kept until every file of the result exists:

1. :func:`plan_backtest`: resolve the policy (model URI | rule) and the period
   (``backtest.start/end``, else ``data.start/end``), build the period's FeatureSet with the
   model's features config (``backtest.use_model_config``), check it against the model's
   FeatureSpec (CompatibilityError at the first difference; another symbol or exchange is a
   warning) and the period against the model's train and validation spans (an overlap makes
   the backtest in-sample, tag ``btcrl.in_sample=true``; an error with ``strict``);
2. :func:`run_episodes`: the episode in TradingEnv mode ``backtest`` with the deterministic
   policy, and buy-and-hold over the same bars (the benchmark);
3. :func:`summarise`: steps, trades (round trips), metrics, headline and summary;
4. :func:`write_artifacts`: steps.csv, trades.csv, summary.json, metrics.json, config.yaml,
   feature_spec.json and report.html into a (temporary) directory;
5. :func:`log_backtest`: one MLflow run (experiment ``backtest.experiment``, or the parent
   run's experiment for a nested run) with the headline metrics, tags and the files; and/or
   the files move to ``backtest.output_dir``.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btcrl.backtest import artifacts
from btcrl.backtest.ledger import collect_steps, extract_trades, ledger_columns
from btcrl.backtest.plan import BacktestPlan, choose_policy, prepare
from btcrl.backtest.plots import equity_frame, figures, write_report
from btcrl.backtest.report import build_metrics, equity_curve, headline_metrics
from btcrl.config import ExperimentConfig, dump_config
from btcrl.config.env import EnvConfig
from btcrl.data.timeframes import periods_per_year, timeframe_seconds
from btcrl.env import LEDGER_FIELDS
from btcrl.errors import DataError
from btcrl.features.prior import EXPOSURE_COLUMN as PRIOR_COLUMN
from btcrl.features.spec import FeatureSet
from btcrl.policy.episode import Episode, backtest_env_config, run_episode
from btcrl.policy.policies import PRIOR_RULE, benchmark_env, buy_and_hold_policy, rule_policy
from btcrl.tracking.lookup import experiment_name_of

log = logging.getLogger(__name__)


@dataclass
class BacktestResult:
    """What a backtest produced. ``run_id`` is None when tracking is off; ``output_dir`` is
    where the files were kept (None when they went to MLflow only); ``in_sample`` is True when
    the period overlaps the model's training or validation span."""

    run_id: str | None
    label: str
    metrics: dict[str, Any]
    headline: dict[str, float]
    summary: dict[str, Any]
    steps: pd.DataFrame
    trades: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    output_dir: Path | None = None
    in_sample: bool = False


@dataclass
class Episodes:
    """The strategy's episode and the buy-and-hold benchmark's, over the same bars; ``env``
    the strategy's backtest env config."""

    strategy: Episode
    benchmark: Episode
    env: EnvConfig
    prior: Episode | None = None  # the trend_voltarget prior, when the features carry it


@dataclass
class Outcome:
    """What :func:`summarise` derives from the episodes."""

    steps: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, Any]
    headline: dict[str, float]
    summary: dict[str, Any]


def plan_backtest(
    config: ExperimentConfig, *, model_uri: str | None = None, policy: str | None = None
) -> BacktestPlan:
    """Stage 1: the :class:`BacktestPlan` (a model URI resolves in ``config.tracking``)."""
    model_uri, policy = choose_policy(config, model_uri, policy)
    if model_uri:
        from btcrl.tracking import configure_tracking

        configure_tracking(config.tracking)  # models:/ and runs:/ resolve in this store
    return prepare(config, model_uri=model_uri, policy=policy)


def run_episodes(plan: BacktestPlan, config: ExperimentConfig) -> Episodes:
    """Stage 2: the plan's policy over its bars, and buy-and-hold without any position cap
    (``benchmark_env``; the same episode when the policy is buy-and-hold)."""
    fs = plan.features
    bench_env = backtest_env_config(benchmark_env(plan.rule_env), config.backtest.force_close)
    bench_policy = buy_and_hold_policy(len(fs), bench_env.leverage_limit)
    benchmark = run_episode(fs, bench_env, bench_policy, seed=config.seed)
    prior = None if plan.rule == PRIOR_RULE else _prior_episode(plan, config)
    if plan.rule == "buy_and_hold":
        return Episodes(benchmark, benchmark, bench_env, prior)
    env = backtest_env_config(plan.env, config.backtest.force_close)
    episode = run_episode(fs, env, plan.policy, seed=config.seed)
    return Episodes(episode, benchmark, env, episode if plan.rule == PRIOR_RULE else prior)


def _prior_episode(plan: BacktestPlan, config: ExperimentConfig) -> Episode | None:
    """The trend_voltarget prior over the plan's bars under the rules' env (as ``btcrl
    backtest --policy trend_voltarget`` trades it); None without the prior's columns."""
    fs = plan.features
    if PRIOR_COLUMN not in fs.spec.feature_names:
        return None
    env = backtest_env_config(plan.rule_env, config.backtest.force_close)
    return run_episode(fs, env, rule_policy(PRIOR_RULE, fs, env), seed=config.seed)


def _tables(fs: FeatureSet, episode: Episode) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    ledger = ledger_columns(episode.ledger, LEDGER_FIELDS)
    steps = collect_steps(fs, episode.observations, episode.actions, ledger)
    return ledger, steps, extract_trades(ledger, steps.index, steps["close"].to_numpy())


def summarise(plan: BacktestPlan, config: ExperimentConfig, episodes: Episodes) -> Outcome:
    """Stage 3: steps and trades of both episodes, metrics.json, headline and summary.json.

    DataError when the metrics cannot be computed (e.g. bankrupt on the first bar)."""
    fs = plan.features
    ledger, steps, trades = _tables(fs, episodes.strategy)
    bench_ledger, bench_steps, bench_trades = _tables(fs, episodes.benchmark)
    ppy = periods_per_year(fs.spec.timeframe)
    try:
        metrics = build_metrics(
            steps=steps,
            ledger=ledger,
            trades=trades,
            bench_steps=bench_steps,
            bench_ledger=bench_ledger,
            bench_trades=bench_trades,
            initial_balance=episodes.env.initial_balance,
            periods_per_year=ppy,
            risk_free_rate=config.backtest.risk_free_rate,
            run=plan.run_metadata(len(steps), ppy, config),
            reward_name=episodes.env.reward,
            bar_seconds=timeframe_seconds(fs.spec.timeframe),
            n_expected=plan.bars_expected,
            prior_steps=None if episodes.prior is None else _tables(fs, episodes.prior)[1],
        )
    except ValueError as exc:  # too few points for metrics
        raise DataError(f"cannot compute metrics for {plan.label}: {exc}") from None
    summary = artifacts.summary(plan, metrics, len(steps), config)
    return Outcome(steps, trades, metrics, headline_metrics(metrics), summary)


def write_artifacts(
    out: Path, plan: BacktestPlan, config: ExperimentConfig, episodes: Episodes, outcome: Outcome
) -> None:
    """Stage 4: every file of the result into the existing directory ``out``."""
    fs = plan.features
    artifacts.write_tables(out, outcome.steps, outcome.trades)
    artifacts.write_json(out / "metrics.json", outcome.metrics)
    artifacts.write_json(out / "summary.json", outcome.summary)
    (out / "config.yaml").write_text(dump_config(plan.logged_config(config)))
    (out / "feature_spec.json").write_text(fs.spec.to_json())
    if config.backtest.plots:
        frame = _plot_frame(fs, episodes, outcome.steps)
        ppy = periods_per_year(fs.spec.timeframe)
        figs = figures(frame, outcome.trades, ppy, plan.title)
        title = f"Backtest {plan.title}, {plan.period_text}"
        lines = artifacts.report_lines(outcome.summary)
        alert = artifacts.in_sample_line(outcome.summary)
        extra = _breakdowns(
            _breakdown_frame(frame, fs, episodes, outcome.steps), outcome.trades, ppy, out
        )
        write_report(figs, out / artifacts.REPORT, title, lines, alert, extra)


def _breakdowns(frame: pd.DataFrame, trades: pd.DataFrame, ppy: float, out: Path) -> str:
    """regimes.csv, hmm_states.csv (``features.hmm`` on) and trade_summary.csv into ``out``;
    their HTML for the report. ``frame`` holds the prior's curve when it ran."""
    from btcrl.backtest.breakdown import (
        breakdown_html,
        curves_of,
        regime_table,
        state_table,
        trade_summary,
    )

    curves = curves_of(frame, "strategy")
    regimes = regime_table(frame, curves, ppy)
    states = state_table(frame, curves, ppy)
    summary = trade_summary(trades)
    regimes.to_csv(out / "regimes.csv", index=False)
    if states is not None:
        states.to_csv(out / "hmm_states.csv", index=False)
    summary.to_csv(out / "trade_summary.csv", index=False)
    return breakdown_html(regimes, summary, states)


def _breakdown_frame(
    frame: pd.DataFrame, fs: FeatureSet, episodes: Episodes, steps: pd.DataFrame
) -> pd.DataFrame:
    """``frame`` with the prior's equity (``prior``; flat after a bankruptcy) and the HMM
    state the strategy observed at each point (``hmm_state``), where they exist."""
    from btcrl.backtest.breakdown import PRIOR_CURVE, hmm_state_labels
    from btcrl.policy.episode import bar_times

    out = frame.copy()
    if episodes.prior is not None:
        prior = episodes.prior
        times = bar_times(fs, prior)[: len(prior.equity)]
        curve = pd.Series(prior.equity[: len(times)], times)
        out[PRIOR_CURVE] = curve.reindex(out.index).ffill().to_numpy()
    states = hmm_state_labels(steps)
    if states is not None and len(states) == len(out):
        out["hmm_state"] = states
    return out


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
    plan = plan_backtest(config, model_uri=model_uri, policy=policy)
    episodes = run_episodes(plan, config)
    outcome = summarise(plan, config, episodes)
    result = BacktestResult(
        run_id=None,
        label=plan.label,
        metrics=outcome.metrics,
        headline=outcome.headline,
        summary=outcome.summary,
        steps=outcome.steps,
        trades=outcome.trades,
        warnings=list(plan.warnings),
        in_sample=plan.in_sample,
    )
    with tempfile.TemporaryDirectory(prefix="btcrl-backtest-") as tmp:
        out = Path(tmp) / "result"
        out.mkdir()
        write_artifacts(out, plan, config, episodes, outcome)
        if config.tracking.enabled:
            result.run_id = log_backtest(config, plan, out, outcome.headline, parent_run_id)
        if config.backtest.output_dir is not None:
            result.output_dir = artifacts.move_into_place(out, config.backtest.output_dir)
    log.info("backtest %s: %s", plan.title, outcome.headline)
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


def _plot_frame(fs: FeatureSet, episodes: Episodes, steps: pd.DataFrame) -> pd.DataFrame:
    episode, bench = episodes.strategy, episodes.benchmark
    rows = np.arange(episode.start_row, episode.start_row + len(steps) + 1)
    times = pd.DatetimeIndex(pd.to_datetime(fs.times[rows], utc=True), name="time")
    close = fs.prices[rows, 3]
    position = np.concatenate([[0.0], steps["position"].to_numpy()])
    bench_equity = bench.equity
    if len(bench_equity) < len(times):  # buy-and-hold went bankrupt first: flat after that
        bench_equity = np.pad(bench_equity, (0, len(times) - len(bench_equity)), mode="edge")
    equity = equity_curve(steps, episode.initial_balance)
    frame = equity_frame(times, equity, bench_equity[: len(times)], close, position)
    for name in ("fill_qty", "fill_price"):  # the entry markers sit at each fill's own price
        frame[name] = np.concatenate([[0.0], steps[name].to_numpy(dtype=float)])
    return frame


def _experiment_for(config: ExperimentConfig, parent_run_id: str | None) -> str:
    """A nested run goes into its parent's experiment (the MLflow UI nests runs only there)."""
    if not parent_run_id:
        return config.backtest.experiment
    return experiment_name_of(parent_run_id) or config.backtest.experiment


def log_backtest(
    config: ExperimentConfig,
    plan: BacktestPlan,
    out: Path,
    headline: dict[str, float],
    parent_run_id: str | None,
) -> str:
    """Stage 5: one MLflow run holding ``out``'s files, the headline metrics, the plan's tags
    (``btcrl.algo`` and ``btcrl.in_sample`` among them), the candles as a dataset input and
    the params that apply to a backtest (:meth:`BacktestPlan.logged_params`); returns its id."""
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
        run_name=f"backtest {plan.title} {plan.period_text}",
        tags=plan.tags(),
        parent_run_id=parent_run_id,
    ) as run:
        log_params(plan.logged_params(config))
        log_candles(plan.features, config.data.source, "backtest")
        linked = False
        if plan.model_name and plan.model_version is not None:
            from btcrl.tracking.models import log_version_metrics

            linked = log_version_metrics(headline, plan.model_name, plan.model_version)
        if not linked:
            log_metrics(headline)
        log_artifacts(out)
        run_id = str(run.info.run_id)
    return run_id
