"""The parent's view: stitch the finished segments per seed and per baseline, score them.

Only segments finished for every seed are stitched (so seeds compare on the same windows).
The first seed in ``walkforward.seeds`` is the primary series: chosen before any result, it
carries the stitched artifacts, the PSR, the DSR and the minimum track-record length.

With ``walkforward.ensemble`` each segment's seed models also trade as one seed ensemble
(``btcrl.policy.ensemble``: their mean action), stitched as :attr:`Aggregate.ensemble`,
scored as ``ensemble/*``: built from the finished jobs' models, it never trains anything.

The DSR's N and V are not known here: they count every configuration tried on the same
out-of-sample windows (:attr:`Aggregate.window_set`), which the trial ledger of the tracking
store holds (:func:`btcrl.walkforward.publish.count_trials`) or a caller that ran the
comparison itself passes. :func:`deflate` completes the metrics with them; with N = 1 there
is nothing to deflate by and ``stats/dsr`` is NaN: the PSR is the figure to read.
"""

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btcrl.backtest.report import excess_group
from btcrl.config import EnvConfig, ExperimentConfig
from btcrl.data.hashing import frame_hash
from btcrl.data.timeframes import periods_per_year
from btcrl.features.spec import FeatureSet, FittedParams
from btcrl.metrics import stats
from btcrl.policy.episode import StepPolicy
from btcrl.policy.policies import PRIOR_RULE
from btcrl.tracking.ledger import window_set_key
from btcrl.walkforward.jobs import Job
from btcrl.walkforward.oos import (
    BUY_AND_HOLD,
    baseline_names,
    baseline_policy,
    run_window,
    window_policy,
)
from btcrl.walkforward.policies import take_policy
from btcrl.walkforward.split import Segment
from btcrl.walkforward.stitch import Window, alpha_table, share_beating, stitch, window_metrics
from btcrl.walkforward.windows import oos_window_features

log = logging.getLogger(__name__)

TRAIN_RUN_KEYS = ("val/", "train_span/")  # a train run's metrics that segments.csv shows
SEGMENT_METRICS = (
    "total_return",
    "sharpe",
    "max_drawdown",
    "turnover",
    "fees_fraction",
    "return_before_costs",
    "avg_exposure",
    "trade_count",
    "psr",
)


@dataclass
class Stitched:
    """One policy's stitched out-of-sample result."""

    name: str
    windows: list[Window]
    times: pd.DatetimeIndex
    equity: np.ndarray
    steps: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]
    segment_metrics: dict[int, dict[str, float]]


@dataclass
class Aggregate:
    """Everything the parent run logs."""

    segments: list[Segment]
    seeds: tuple[int, ...]
    models: dict[int, Stitched]  # per seed
    baselines: dict[str, Stitched]
    metrics: dict[str, float] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    window_set: str = ""  # the trial ledger's key of the stitched test windows
    trials: stats.TrialCount | None = None  # what the DSR counted (set by deflate)
    ensemble: Stitched | None = None  # the seeds' ensemble (walkforward.ensemble)
    #: per segment: the ensemble (a LoadedEnsemble), its test features and env, to register
    ensemble_models: dict[int, tuple[Any, FeatureSet, EnvConfig]] = field(default_factory=dict)

    @property
    def primary(self) -> Stitched:
        return self.models[self.seeds[0]]


def _chain(
    name: str,
    parts: list[tuple[Segment, FeatureSet]],
    policies: list,
    env_of: list,
    initial: float,
    ppy: float,
    rf: float,
) -> Stitched:
    windows: list[Window] = []
    balance = initial
    for (segment, fs), policy, env in zip(parts, policies, env_of, strict=True):
        if balance <= 0:
            log.warning("%s is bankrupt before segment %d: stitching stops", name, segment.index)
            break
        win = run_window(fs, env, policy, balance, segment.index)
        windows.append(win)
        balance = float(win.equity[-1])
    times, equity, steps, trades = stitch(windows)
    per_segment = {w.segment: window_metrics(w.equity, w.steps, w.trades, ppy, rf) for w in windows}
    metrics = window_metrics(equity, steps, trades, ppy, rf)
    return Stitched(name, windows, times, equity, steps, trades, metrics, per_segment)


#: the feature sets built per segment, keyed by (fitted params, window)
Built = dict[int, list[tuple[tuple[tuple[FittedParams, ...], int], FeatureSet]]]
ENSEMBLE = "ensemble"  # the ensemble's name: its series, metric prefix and table rows


@dataclass
class SeedSeries:
    """One seed's test windows: features, policies and envs per segment, and the models."""

    parts: list[tuple[Segment, FeatureSet]] = field(default_factory=list)
    policies: list[StepPolicy] = field(default_factory=list)
    envs: list[EnvConfig] = field(default_factory=list)
    loaded: list[Any] = field(default_factory=list)  # the segment models (LoadedPolicy)


def _seed_series(
    config: ExperimentConfig,
    done: list[Segment],
    finished: dict[Job, dict[str, object]],
    candles: pd.DataFrame,
    built: Built,
    seed: int,
) -> SeedSeries:
    """The segment models of ``seed`` with their test features (the model's fitted params)."""
    series = SeedSeries()
    for segment in done:
        uri = str(finished[(segment.index, seed)]["model_uri"])
        loaded = take_policy(uri)
        # a windowed model (env.window W, e.g. an encoder's) starts W - 1 bars into its
        # feature set: W lead bars put its first step, like the baselines', at test start
        window = loaded.config.env.window
        fs = _test_features(
            built.setdefault(segment.index, []), candles, config, segment,
            loaded.spec.fitted, window,
        )  # fmt: skip
        loaded.spec.check_compatible(fs.spec)
        series.policies.append(window_policy(loaded, uri))
        series.parts.append((segment, fs))
        series.envs.append(config.env.model_copy(update={"window": window}))
        series.loaded.append(loaded)
    return series


def _ensemble_series(
    config: ExperimentConfig, seeds: dict[int, SeedSeries], result: Aggregate, ppy: float
) -> None:
    """The seeds' ensemble per segment (its members share the segment's features: the
    first seed's), stitched into ``result``. ConfigError when the members differ in
    observation or env."""
    from btcrl.policy.ensemble import ensemble_of

    first = next(iter(seeds.values()))
    policies = []
    for k, (segment, fs) in enumerate(first.parts):
        members = [series.loaded[k] for series in seeds.values()]
        ensemble = ensemble_of(members, f"{ENSEMBLE} segment {segment.index}")
        policies.append(window_policy(ensemble, ensemble.model_uri))
        result.ensemble_models[segment.index] = (ensemble, fs, first.envs[k])
    initial, rf = config.env.initial_balance, config.backtest.risk_free_rate
    result.ensemble = _chain(ENSEMBLE, first.parts, policies, first.envs, initial, ppy, rf)


def aggregate(
    config: ExperimentConfig,
    segments: list[Segment],
    finished: dict[Job, dict[str, object]],
    candles: pd.DataFrame,
) -> Aggregate | None:
    """Stitch the segments finished for every seed (and, with ``walkforward.ensemble``, the
    seeds' ensemble); None when none is."""
    seeds = config.walkforward.seeds
    done = [s for s in segments if all((s.index, seed) in finished for seed in seeds)]
    if not done:
        return None
    ppy = periods_per_year(config.data.timeframe)
    rf = config.backtest.risk_free_rate
    initial = config.env.initial_balance
    built: Built = {}
    series = {seed: _seed_series(config, done, finished, candles, built, seed) for seed in seeds}
    models = {
        seed: _chain(f"seed {seed}", s.parts, s.policies, s.envs, initial, ppy, rf)
        for seed, s in series.items()
    }
    primary = series[seeds[0]]
    baselines: dict[str, Stitched] = {}
    for name in baseline_names(config.features.strategies, config.features.prior.enabled):
        rules = [
            baseline_policy(name, fs, env)
            for (_, fs), env in zip(primary.parts, primary.envs, strict=True)
        ]
        baselines[name] = _chain(
            name, primary.parts, [b[0] for b in rules], [b[1] for b in rules], initial, ppy, rf
        )
    result = Aggregate(done, seeds, models, baselines)
    if config.walkforward.ensemble and len(seeds) > 1:  # one seed's ensemble is that seed
        _ensemble_series(config, series, result, ppy)
    result.window_set = test_window_set(config, done, candles)
    result.metrics = headline(result)
    result.metrics.update(excess_metrics(result, ppy))
    result.metrics.update(ensemble_metrics(result, ppy))
    result.table = segment_table(result, finished)
    return result


def ensemble_metrics(result: Aggregate, periods_per_year: float) -> dict[str, float]:
    """``ensemble/*``: the ensemble's stitched metrics (``window_metrics``), its PSR and its
    excess over buy-and-hold and the prior (``ensemble/<baseline>/excess_*``); {} without
    an ensemble. Its DSR comes with :func:`deflate`."""
    ensemble = result.ensemble
    if ensemble is None:
        return {}
    out = {f"{ENSEMBLE}/{k}": v for k, v in ensemble.metrics.items()}  # the PSR included
    return out | excess_metrics(result, periods_per_year, ensemble, f"{ENSEMBLE}/")


def excess_metrics(
    result: Aggregate, periods_per_year: float, series: Stitched | None = None, prefix: str = ""
) -> dict[str, float]:
    """``series``' (default: the primary seed's) stitched excess over buy-and-hold and, when
    its columns were there, the prior: ``<prefix><baseline>/excess_return`` (difference of
    total returns), ``/excess_sharpe`` (annualised Sharpe of the per-bar return differences)
    and ``/excess_psr``."""
    equity = (series or result.primary).equity
    out: dict[str, float] = {}
    for name in (BUY_AND_HOLD, PRIOR_RULE):
        base = result.baselines.get(name)
        if base is None:
            continue
        excess = excess_group(equity, base.equity, periods_per_year)
        out.update({f"{prefix}{name}/{key}": value for key, value in excess.items()})
    return out


def _test_features(
    cache: list[tuple[tuple[tuple[FittedParams, ...], int], FeatureSet]],
    candles: pd.DataFrame,
    config: ExperimentConfig,
    segment: Segment,
    fitted: tuple[FittedParams, ...],
    window: int = 1,
) -> FeatureSet:
    """The segment's test window with these fitted params and ``window`` lead bars, built
    once per distinct (params, window) (the seeds of a segment fit the same train rows, so
    usually once)."""
    for key, fs in cache:
        if key == (fitted, window):
            return fs
    fs = oos_window_features(candles, config, segment, fitted, window)
    cache.append(((fitted, window), fs))
    return fs


def test_window_set(config: ExperimentConfig, done: list[Segment], candles: pd.DataFrame) -> str:
    """The trial ledger's key of the test windows of ``done`` (:func:`window_set`)."""
    return window_set(config, [(s.test_start, s.test_stop) for s in done], candles)


def window_set(
    config: ExperimentConfig,
    windows: list[tuple[pd.Timestamp, pd.Timestamp]],
    candles: pd.DataFrame,
) -> str:
    """The trial ledger's key of out-of-sample ``windows`` (``[start, stop)`` UTC, in order):
    the market, the hash of the candles inside them and the windows, so runs on other data,
    spans or splits are other window sets, whatever their train windows were."""
    inside = candles[(candles.index >= windows[0][0]) & (candles.index < windows[-1][1])]
    data = config.data
    market = f"{data.exchange} {data.symbol} {data.timeframe}"
    spans = [(start.isoformat(), stop.isoformat()) for start, stop in windows]
    return window_set_key(market, frame_hash(inside), spans)


def headline(result: Aggregate) -> dict[str, float]:
    """Stitched metrics of the primary seed, the seed spread, baselines, alpha and the
    statistics that need no trial count (PSR, MinTRL) on the primary seed's per-bar returns;
    :func:`deflate` adds the DSR."""
    primary = result.primary
    out = {f"stitched/{k}": v for k, v in primary.metrics.items()}
    for key in ("total_return", "sharpe", "max_drawdown"):
        values = np.array([m.metrics[key] for m in result.models.values()])
        out[f"seeds/{key}_mean"] = float(values.mean())
        out[f"seeds/{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out[f"seeds/{key}_min"] = float(values.min())
        out[f"seeds/{key}_max"] = float(values.max())
    for name, base in result.baselines.items():
        for key in ("total_return", "sharpe", "max_drawdown", "cagr"):
            out[f"{name.replace(':', '_')}/{key}"] = base.metrics[key]
    alpha = _alpha(primary, result.baselines[BUY_AND_HOLD])
    out["alpha/mean"] = float(alpha["alpha"].mean())
    out["alpha/share_beating_bh"] = share_beating(alpha)
    returns = primary_returns(result)
    out["stats/psr"] = stats.probabilistic_sharpe_ratio(returns)
    out["stats/min_track_record_bars"] = stats.min_track_record_length(returns)
    out["stats/track_record_bars"] = float(returns.size)
    out["segments/stitched"] = float(len(primary.windows))
    out["segments/total"] = float(len(result.segments))
    return out


def primary_returns(result: Aggregate) -> np.ndarray:
    """The primary seed's stitched per-bar simple returns (fractions)."""
    equity = result.primary.equity
    return equity[1:] / equity[:-1] - 1.0


def deflate(result: Aggregate, trials: stats.TrialCount) -> None:
    """Add the DSR of the primary series counting ``trials`` to ``result.metrics`` (in
    place): ``stats/dsr`` (NaN when N = 1: undeflated, it is the PSR), ``stats/n_trials``,
    ``stats/sharpe_variance`` and ``stats/expected_max_sharpe_per_bar`` (per bar)."""
    returns = primary_returns(result)
    n, variance = trials.n_trials, trials.sharpe_variance
    dsr = math.nan if trials.single else stats.deflated_sharpe_ratio(returns, n, variance)
    result.metrics["stats/dsr"] = dsr
    result.metrics["stats/n_trials"] = float(n)
    result.metrics["stats/sharpe_variance"] = variance
    result.metrics["stats/expected_max_sharpe_per_bar"] = stats.expected_max_sharpe(n, variance)
    if result.ensemble is not None:
        equity = result.ensemble.equity
        ensemble_returns = equity[1:] / equity[:-1] - 1.0
        result.metrics[f"{ENSEMBLE}/dsr"] = (
            math.nan
            if trials.single
            else stats.deflated_sharpe_ratio(ensemble_returns, n, variance)
        )
    result.trials = trials


def _alpha(model: Stitched, bench: Stitched) -> pd.DataFrame:
    common = [s for s in model.segment_metrics if s in bench.segment_metrics]
    return alpha_table(
        {s: model.segment_metrics[s]["total_return"] for s in common},
        {s: bench.segment_metrics[s]["total_return"] for s in common},
    )


def segment_table(result: Aggregate, finished: dict[Job, dict[str, object]]) -> pd.DataFrame:
    """segments.csv: one row per (segment, seed) with spans, run, validation metrics, the
    model's in-sample metrics on its train span (``train_span/*``), out-of-sample metrics,
    buy-and-hold's return, the alpha and every baseline's return; then the ensemble's row
    (seed ``ensemble``) when there is one."""
    rows = []
    for segment in result.segments:
        for seed, stitched in result.models.items():
            metrics = stitched.segment_metrics.get(segment.index)
            if metrics is None:
                continue
            attrs = finished[(segment.index, seed)]
            row: dict[str, object] = {"segment": segment.index, "seed": seed, **segment.spans()}
            row["run_id"] = attrs.get("run_id")
            row["model_uri"] = attrs.get("model_uri")
            row.update({k: v for k, v in attrs.items() if str(k).startswith(TRAIN_RUN_KEYS)})
            rows.append({**row, **_oos_cells(result, segment.index, metrics)})
        ensemble = result.ensemble
        if ensemble is not None and segment.index in ensemble.segment_metrics:
            row = {"segment": segment.index, "seed": ENSEMBLE, **segment.spans()}
            rows.append(
                {
                    **row,
                    **_oos_cells(result, segment.index, ensemble.segment_metrics[segment.index]),
                }
            )
    return pd.DataFrame(rows)


def _oos_cells(result: Aggregate, segment: int, metrics: dict[str, float]) -> dict[str, object]:
    """A segments.csv row's out-of-sample metrics, buy-and-hold's return, the alpha and
    every other baseline's return."""
    row: dict[str, object] = {f"oos_{k}": metrics[k] for k in SEGMENT_METRICS}
    bh = result.baselines[BUY_AND_HOLD].segment_metrics.get(segment, {})
    row["bh_return"] = bh.get("total_return", math.nan)
    row["alpha"] = metrics["total_return"] - bh.get("total_return", math.nan)
    for name, base in result.baselines.items():
        if name != BUY_AND_HOLD:
            value = base.segment_metrics.get(segment, {}).get("total_return")
            row[f"{name}_return"] = math.nan if value is None else value
    return row
