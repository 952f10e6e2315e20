"""Run a deterministic policy over a whole span and score it (the ``val/*`` metrics)."""

import logging
from collections.abc import Callable

import numpy as np

from btcrl.config import EnvConfig
from btcrl.features.spec import FeatureSet

log = logging.getLogger(__name__)

#: obs float32 (1, obs_size) -> actions float32 (1, 2)
ActFn = Callable[[np.ndarray], np.ndarray]


def run_episode(features: FeatureSet, config: EnvConfig, act: ActFn) -> dict[str, np.ndarray]:
    """Step ``act`` through the whole span once (BatchTradingEnv, one env, mode ``eval``).

    Returns per-bar arrays: ``equity`` (quote currency, starting with the initial balance),
    ``position`` (BTC after each bar) and ``fills`` (orders and stop exits filled per bar).
    """
    from btcrl.env import BatchTradingEnv

    env = BatchTradingEnv(features, config, n_envs=1, seed=0, mode="eval")
    steps = env.bounds.steps
    equity = np.empty(steps + 1, dtype=np.float64)
    equity[0] = config.initial_balance
    position = np.empty(steps, dtype=np.float64)
    fills = np.empty(steps, dtype=np.int64)
    columns = [env.ledger_column(name) for name in ("equity", "position", "fill_qty", "stop_hit")]
    try:
        obs = env.reset()
        done = np.zeros(1, dtype=np.bool_)
        taken = 0
        while not done[0] and taken < steps:
            obs, _reward, done, _infos = env.step(np.asarray(act(obs), dtype=np.float32))
            eq, pos, qty, stop = (float(column[0]) for column in columns)
            equity[taken + 1], position[taken] = eq, pos
            fills[taken] = int(qty != 0.0) + int(stop != 0.0)
            taken += 1
    finally:
        env.close()
    equity, position, fills = equity[: taken + 1], position[:taken], fills[:taken]
    return {"equity": equity, "position": position, "fills": fills}


def score_episode(episode: dict[str, np.ndarray], periods_per_year: float) -> dict[str, float]:
    """``total_return``, ``sharpe``, ``max_drawdown`` (<= 0, fraction) and the other
    performance metrics of the equity curve, plus ``trades`` (fills) and ``exposure`` (fraction
    of bars holding a position)."""
    from btcrl.backtest.metrics import performance_metrics

    metrics = {
        k: float(v) for k, v in performance_metrics(episode["equity"], periods_per_year).items()
    }
    metrics["trades"] = float(episode["fills"].sum())
    metrics["exposure"] = (
        float(np.mean(episode["position"] != 0)) if len(episode["position"]) else 0.0
    )
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
