"""The parent's view: stitch the finished segments per seed and per baseline, score them.

Only segments finished for every seed are stitched (so seeds compare on the same windows).
The first seed in ``walkforward.seeds`` is the primary series: chosen before any result, it
carries the stitched artifacts, the PSR, the DSR and the minimum track-record length. The
DSR counts ``walkforward.n_trials`` configurations (default: the seeds) with the variance of
the seeds' per-bar stitched Sharpe ratios.
"""

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btcrl.backtest import stats
from btcrl.config import ExperimentConfig
from btcrl.data.timeframes import periods_per_year
from btcrl.features.spec import FeatureSet
from btcrl.walkforward.jobs import Job
from btcrl.walkforward.oos import (
    BUY_AND_HOLD,
    baseline_names,
    baseline_policy,
    run_window,
    window_policy,
)
from btcrl.walkforward.split import Segment
from btcrl.walkforward.stitch import Window, alpha_table, share_beating, stitch, window_metrics
from btcrl.walkforward.windows import window_features

log = logging.getLogger(__name__)

SEGMENT_METRICS = (
    "total_return",
    "sharpe",
    "max_drawdown",
    "turnover",
    "fees_fraction",
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


def aggregate(
    config: ExperimentConfig,
    segments: list[Segment],
    finished: dict[Job, dict[str, object]],
    candles: pd.DataFrame,
) -> Aggregate | None:
    """Stitch the segments finished for every seed; None when none is."""
    from btcrl.policy import load_policy

    seeds = config.walkforward.seeds
    done = [s for s in segments if all((s.index, seed) in finished for seed in seeds)]
    if not done:
        return None
    ppy = periods_per_year(config.data.timeframe)
    rf = config.backtest.risk_free_rate
    initial = config.env.initial_balance
    loaded = {job: load_policy(str(finished[job]["model_uri"])) for job in finished
              if job[0] in {s.index for s in done} and job[1] in seeds}
    # windowed models (env.window W, e.g. an encoder's) start W - 1 bars into their feature
    # set: W lead bars put their first step, like the baselines', at the test start
    window = max((m.config.env.window for m in loaded.values()), default=1)
    env = config.env.model_copy(update={"window": window})
    parts = [
        (
            s,
            window_features(
                candles, config.features, config.data, s.test_start, s.test_stop,
                lead_bars=window,
            ),
        )
        for s in done
    ]
    models: dict[int, Stitched] = {}
    for seed in seeds:
        policies = []
        for segment, fs in parts:
            model = loaded[(segment.index, seed)]
            model.spec.check_compatible(fs.spec)
            policies.append(window_policy(model, model.model_uri))
        models[seed] = _chain(f"seed {seed}", parts, policies, [env] * len(parts), initial, ppy, rf)
    baselines: dict[str, Stitched] = {}
    for name in baseline_names(config.features.strategies):
        built = [baseline_policy(name, fs, env) for _, fs in parts]
        baselines[name] = _chain(
            name, parts, [b[0] for b in built], [b[1] for b in built], initial, ppy, rf
        )
    result = Aggregate(done, seeds, models, baselines)
    result.metrics = headline(result, config)
    result.table = segment_table(result, finished)
    return result


def headline(result: Aggregate, config: ExperimentConfig) -> dict[str, float]:
    """Stitched metrics of the primary seed, the seed spread, baselines, alpha and the
    statistics (PSR, DSR, MinTRL) on the primary seed's per-bar returns."""
    primary = result.primary
    out = {f"stitched/{k}": v for k, v in primary.metrics.items()}
    sharpes = np.array([m.metrics["sharpe_per_bar"] for m in result.models.values()])
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
    returns = primary.equity[1:] / primary.equity[:-1] - 1.0
    n_trials = config.walkforward.n_trials or len(result.seeds)
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    out["stats/psr"] = stats.probabilistic_sharpe_ratio(returns)
    out["stats/dsr"] = stats.deflated_sharpe_ratio(returns, n_trials, variance)
    out["stats/n_trials"] = float(n_trials)
    out["stats/expected_max_sharpe_per_bar"] = stats.expected_max_sharpe(n_trials, variance)
    out["stats/min_track_record_bars"] = stats.min_track_record_length(returns)
    out["stats/track_record_bars"] = float(returns.size)
    out["segments/stitched"] = float(len(primary.windows))
    out["segments/total"] = float(len(result.segments))
    return out


def _alpha(model: Stitched, bench: Stitched) -> pd.DataFrame:
    common = [s for s in model.segment_metrics if s in bench.segment_metrics]
    return alpha_table(
        {s: model.segment_metrics[s]["total_return"] for s in common},
        {s: bench.segment_metrics[s]["total_return"] for s in common},
    )


def segment_table(result: Aggregate, finished: dict[Job, dict[str, object]]) -> pd.DataFrame:
    """segments.csv: one row per (segment, seed) with spans, run, validation and
    out-of-sample metrics, buy-and-hold's return, the alpha and every baseline's return."""
    rows = []
    bench = result.baselines[BUY_AND_HOLD]
    for segment in result.segments:
        for seed, stitched in result.models.items():
            metrics = stitched.segment_metrics.get(segment.index)
            if metrics is None:
                continue
            attrs = finished[(segment.index, seed)]
            row: dict[str, object] = {"segment": segment.index, "seed": seed, **segment.spans()}
            row["run_id"] = attrs.get("run_id")
            row["model_uri"] = attrs.get("model_uri")
            row.update({k: v for k, v in attrs.items() if str(k).startswith("val/")})
            row.update({f"oos_{k}": metrics[k] for k in SEGMENT_METRICS})
            bh = bench.segment_metrics.get(segment.index, {}).get("total_return", math.nan)
            row["bh_return"] = bh
            row["alpha"] = metrics["total_return"] - bh
            for name, base in result.baselines.items():
                if name != BUY_AND_HOLD:
                    value = base.segment_metrics.get(segment.index, {}).get("total_return")
                    row[f"{name}_return"] = math.nan if value is None else value
            rows.append(row)
    return pd.DataFrame(rows)
