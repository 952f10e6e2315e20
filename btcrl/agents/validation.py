"""Run a deterministic policy over a whole span and score it (the ``val/*`` metrics)."""

import logging

import numpy as np

from btcrl.config import EnvConfig
from btcrl.features.spec import FeatureSet
from btcrl.metrics import PERFORMANCE_KEYS, behaviour_metrics, performance_metrics
from btcrl.policy.act import ActFn

log = logging.getLogger(__name__)

#: every metric a validation logs (``val/<name>``); train.best_metric must be one of them
VALIDATION_METRICS = tuple(
    f"val/{name}"
    for name in (
        *PERFORMANCE_KEYS,
        "trades",
        "exposure",
        "time_in_market",
        "turnover",
        "stop_loss_count",
    )
)

_LEDGER = (
    "bar",
    "equity",
    "position",
    "fill_price",
    "fill_qty",
    "stop_hit",
    "stop_fill_price",
    "stop_fill_qty",
    "close_fill_price",
    "close_fill_qty",
)


def run_episode(features: FeatureSet, config: EnvConfig, act: ActFn) -> dict[str, np.ndarray]:
    """Step ``act`` through the whole span once (BatchTradingEnv, one env, mode ``eval``).

    Returns per-bar arrays: ``equity`` (quote currency, starting with the initial balance,
    so one longer than the others), ``position`` (BTC after the bar), ``close`` (the bar's
    close), ``notional`` (|USD| filled in the bar), ``stop_hits`` and ``fills`` (orders, stop
    exits and the final forced close filled in the bar).
    """
    from btcrl.env import BatchTradingEnv

    env = BatchTradingEnv(features, config, n_envs=1, seed=0, mode="eval")
    steps = env.bounds.steps
    rows = np.zeros((steps, len(_LEDGER)), dtype=np.float64)
    columns = [env.ledger_column(name) for name in _LEDGER]
    taken = 0
    try:
        obs = env.reset()
        done = np.zeros(1, dtype=np.bool_)
        while not done[0] and taken < steps:
            step = env.step(np.asarray(act(np.asarray(obs)), dtype=np.float32))
            obs, done = step[0], step[2]
            rows[taken] = [column[0] for column in columns]
            taken += 1
    finally:
        env.close()
    ledger = dict(zip(_LEDGER, rows[:taken].T, strict=True))
    notional = sum(
        np.abs(ledger[f"{kind}_price"] * ledger[f"{kind}_qty"])
        for kind in ("fill", "stop_fill", "close_fill")
    )
    fills = sum(
        (ledger[f"{kind}_qty"] != 0).astype(np.int64)
        for kind in ("fill", "stop_fill", "close_fill")
    )
    return {
        "equity": np.concatenate([[config.initial_balance], ledger["equity"]]),
        "position": ledger["position"],
        "close": features.prices[ledger["bar"].astype(np.int64), 3],
        "notional": np.asarray(notional, dtype=np.float64),
        "stop_hits": ledger["stop_hit"],
        "fills": np.asarray(fills, dtype=np.int64),
    }


def score_episode(episode: dict[str, np.ndarray], periods_per_year: float) -> dict[str, float]:
    """Performance metrics of the equity curve (``total_return``, ``sharpe``, ``max_drawdown``
    <= 0 as a fraction, ...), ``trades`` (fills), ``exposure`` (mean |position x close| /
    equity, fraction), ``time_in_market`` (fraction of bars holding a position), ``turnover``
    and ``stop_loss_count`` (btcrl.metrics, so validation and backtests agree)."""
    equity = episode["equity"]
    metrics = {k: float(v) for k, v in performance_metrics(equity, periods_per_year).items()}
    metrics["trades"] = float(episode["fills"].sum())
    if len(episode["position"]):
        behaviour = behaviour_metrics(
            episode["position"],
            episode["close"],
            equity[1:],
            episode["notional"],
            episode["stop_hits"],
            periods_per_year,
        )
        metrics["exposure"] = behaviour["avg_exposure"]
        for key in ("time_in_market", "turnover", "stop_loss_count"):
            metrics[key] = behaviour[key]
    return metrics


def evaluate_policy(
    features: FeatureSet,
    config: EnvConfig,
    act: ActFn,
    periods_per_year: float,
    prefix: str = "val/",
) -> dict[str, float]:
    """Score ``act`` over the whole span of ``features``; keys carry ``prefix``."""
    metrics = score_episode(run_episode(features, config, act), periods_per_year)
    return {f"{prefix}{key}": value for key, value in metrics.items()}
