"""One backtest episode: a policy steps TradingEnv (mode ``backtest``) bar by bar.

The env is the one training used, over the same engine; the episode runs from the feature
set's ``first_valid`` row to its last row. Everything the ledger needs is copied from the
env after each step (its ``info`` values, ``TradingEnv.ledger``), never recomputed here.
"""

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS, TradingEnv
from btcrl.features.spec import FeatureSet

log = logging.getLogger(__name__)


class StepPolicy(Protocol):
    """Anything that picks ``[a_pos, a_sl]`` for row ``row`` from its observation."""

    name: str

    def act(self, row: int, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class Episode:
    """Arrays of one episode, one entry per step (``steps`` = T - 1 - first_valid).

    ``observations`` float32 (steps, obs) seen before acting, ``actions`` float32 (steps, 2),
    ``ledger`` float64 (steps, len(LEDGER_FIELDS)) the env's ledger after each step.
    ``start_row``: the first observed row (its close is where equity starts).
    """

    start_row: int
    observations: np.ndarray
    actions: np.ndarray
    ledger: np.ndarray
    initial_balance: float

    @property
    def equity(self) -> np.ndarray:
        """Equity (USD) at the start and after every step: length steps + 1."""
        col = LEDGER_FIELDS.index("equity")
        return np.concatenate([[self.initial_balance], self.ledger[:, col]])

    def field(self, name: str) -> np.ndarray:
        return self.ledger[:, LEDGER_FIELDS.index(name)]


def backtest_env_config(config: EnvConfig, force_close: bool) -> EnvConfig:
    """``config`` in backtest mode with the forced close at the end as asked."""
    return config.model_copy(update={"mode": "backtest", "force_close_at_end": force_close})


def run_episode(
    features: FeatureSet, config: EnvConfig, policy: StepPolicy, seed: int | None = None
) -> Episode:
    """Step ``policy`` through TradingEnv(features, config, mode="backtest") to the end
    (last row, or bankruptcy)."""
    env = TradingEnv(features, config, mode="backtest", seed=seed)
    try:
        obs, info = env.reset(seed=seed)
        start = int(info["bar"])
        steps = env.bounds.steps
        observations = np.empty((steps, obs.shape[0]), dtype=np.float32)
        actions = np.empty((steps, 2), dtype=np.float32)
        ledger = np.empty((steps, len(LEDGER_FIELDS)), dtype=np.float64)
        n = 0
        row = start
        done = False
        while not done:
            observations[n] = obs
            action = policy.act(row, obs)
            actions[n] = action
            obs, _reward, terminated, truncated, _info = env.step(action)
            ledger[n] = env.ledger
            n += 1
            row += 1
            done = terminated or truncated
        if n < steps:
            log.warning("episode ended after %d of %d steps (bankrupt)", n, steps)
    finally:
        env.close()
    return Episode(start, observations[:n], actions[:n], ledger[:n], config.initial_balance)


def bar_times(features: FeatureSet, episode: Episode) -> pd.DatetimeIndex:
    """Bar open times of the start row and of every step's bar (length steps + 1)."""
    rows = np.arange(episode.start_row, episode.start_row + episode.ledger.shape[0] + 1)
    return pd.DatetimeIndex(pd.to_datetime(features.times[rows], utc=True), name="time")
