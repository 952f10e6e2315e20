"""One deterministic episode of a policy over a feature set: the runner shared by validation
(``btcrl.agents.validation``), backtests and walk-forward tests.

The episode runs from the feature set's ``first_valid + env.window - 1`` row to its last row
(modes ``eval`` and ``backtest`` of the env, which differ only in name) on the trade engine the
training env uses. Two paths give the same ledger for the same actions:

- an ``MlpPolicy`` (an SB3 MLP actor read by ``btcrl.policy.sb3_mlp.mlp_from_policy``), an
  ``EncodedMlpPolicy`` (a pre-trained encoder, its embeddings batched, then its MLP head:
  ``btcrl.policy.encoded``) and a ``RulePolicy`` (targets fixed per row) run inside one
  compiled call
  (``btcrl.env.episode_runner``): about 30 ms for 10,000 bars instead of about 4 s
  (``benchmarks/episode.py``);
- any other ``StepPolicy`` steps ``TradingEnv`` bar by bar from Python.

Everything the ledger holds is the engine's own row after each step, never recomputed here.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from btcrl.config.env import EnvConfig
from btcrl.encoder.columns import policy_columns
from btcrl.env import LEDGER_FIELDS, TradingEnv
from btcrl.env.episode_runner import (
    ensemble_forward,
    mlp_forward,
    pack_members,
    run_compiled_episode,
    run_planned_episode,
)
from btcrl.env.layout import L_CLOSE_QTY, L_FILL_QTY, L_POSITION, L_STOP_QTY
from btcrl.env.mlp import MlpActor
from btcrl.env.params import first_row
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy.encoded import EncodedMlpPolicy, encoded_policy, run_encoded_episode
from btcrl.policy.policies import ModelPolicy, RulePolicy
from btcrl.policy.sb3_mlp import mlp_from_policy

log = logging.getLogger(__name__)

EPISODE_MODES = ("eval", "backtest")
CHECK_ROWS = 64  # random observations an MlpPolicy is checked on against the torch policy
CHECK_TOLERANCE = 1e-5  # max |action difference| accepted between the two
_FLAT_EPS = 1e-12  # BTC: a position this small counts as closed (as btcrl.backtest.ledger)


class StepPolicy(Protocol):
    """Anything that picks ``[a_pos, a_sl]`` for row ``row`` from its observation."""

    name: str

    def act(self, row: int, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class MlpPolicy:
    """A deterministic MLP actor: episodes run compiled; ``act`` runs the kernel's own
    forward pass on one observation (so stepping it gives the compiled episode, bit for bit)."""

    actor: MlpActor
    name: str = "model"

    def __post_init__(self) -> None:
        self._layers = self.actor.packed()
        width = int(self._layers[1].max())
        self._buffers = (np.zeros(width, np.float32), np.zeros(width, np.float32))

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        out = np.zeros((1, self.actor.action_size), dtype=np.float32)
        actor = self.actor
        row_obs = np.ascontiguousarray(obs, dtype=np.float32)[None, :]
        mlp_forward(
            row_obs, *self._layers, actor.squashed, actor.low, actor.high, *self._buffers, out
        )
        return out[0]


@dataclass
class EnsembleMlpPolicy:
    """An ensemble of MLP actors (``btcrl.policy.ensemble``): the mean of their deterministic
    actions. Episodes run compiled; ``act`` runs the kernel's own forward passes."""

    actors: tuple[MlpActor, ...]
    name: str = "ensemble"

    def __post_init__(self) -> None:
        self._members = pack_members(self.actors)
        width = int(self._members[1].max())
        self._buffers = (np.zeros(width, np.float32), np.zeros(width, np.float32))

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        out = np.zeros((1, 2), dtype=np.float32)
        each = np.zeros((1, 2), dtype=np.float32)
        row_obs = np.ascontiguousarray(obs, dtype=np.float32)[None, :]
        ensemble_forward(row_obs, *self._members, *self._buffers, each, out)
        return out[0]


@dataclass(frozen=True)
class MemberPolicies:
    """An ensemble's members (``btcrl.policy.ensemble.LoadedEnsemble.model.policy``): their
    SB3 / SBX policy objects and deterministic ``predict`` functions, in member order."""

    policies: tuple[Any, ...]
    predicts: tuple[Callable[[np.ndarray], np.ndarray], ...]


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

    def closed_trades(self) -> np.ndarray:
        """Round-trip trades closed in each step, int64 (steps,): a trade closes when a fill
        takes the position back to zero or through it (the trades of
        ``btcrl.backtest.ledger.extract_trades`` that are not open; its ``trade_count``)."""
        qty = self.ledger[:, [L_FILL_QTY, L_STOP_QTY, L_CLOSE_QTY]]
        start = np.concatenate([[0.0], self.ledger[:-1, L_POSITION]])
        after = start[:, None] + np.cumsum(qty, axis=1)  # the engine adds fills in this order
        before = np.column_stack([start, after[:, :-1]])
        flat = np.abs(after) <= _FLAT_EPS
        closed = (qty != 0.0) & (before != 0.0) & (flat | (np.sign(after) != np.sign(before)))
        return closed.sum(axis=1).astype(np.int64)


def backtest_env_config(config: EnvConfig, force_close: bool) -> EnvConfig:
    """``config`` in backtest mode with the forced close at the end as asked."""
    return config.model_copy(update={"mode": "backtest", "force_close_at_end": force_close})


def model_policy(
    sb3_policy: Any, predict: Callable[[np.ndarray], np.ndarray], name: str = "model"
) -> StepPolicy:
    """The fastest exact step policy for a trained SB3 policy: an ``MlpPolicy`` when its actor
    is an MLP over the raw observation and agrees with ``predict`` (float32 (N, obs) ->
    (N, 2), the torch path) to ``CHECK_TOLERANCE`` on random observations, else
    ``ModelPolicy(predict)``. An ensemble's ``MemberPolicies`` give an ``EnsembleMlpPolicy``
    when every member is such an MLP, else ``ModelPolicy(predict)`` (the mean of theirs)."""
    if isinstance(sb3_policy, MemberPolicies):
        return _ensemble_policy(sb3_policy, predict, name)
    encoded = encoded_policy(sb3_policy, predict, name, CHECK_ROWS, CHECK_TOLERANCE)
    if encoded is not None:  # an encoder: embeddings batched, the MLP head compiled
        return encoded
    if policy_columns(sb3_policy) is not None:  # SBX reading through an encoder, not an MLP
        return ModelPolicy(predict, name=name)
    actor = mlp_from_policy(sb3_policy)
    if actor is None:
        log.info("policy %s is not a plain MLP actor: episodes step it through torch", name)
        return ModelPolicy(predict, name=name)
    sample = np.random.default_rng(0).normal(0.0, 3.0, (CHECK_ROWS, actor.obs_size))
    sample = sample.astype(np.float32)
    expected = np.asarray(predict(sample), dtype=np.float32)
    gap = float(np.max(np.abs(actor.forward(sample) - expected)))
    if not gap <= CHECK_TOLERANCE:
        log.warning("compiled actor of %s differs from torch by %g: stepping torch", name, gap)
        return ModelPolicy(predict, name=name)
    return MlpPolicy(actor, name=name)


def _ensemble_policy(
    members: MemberPolicies, predict: Callable[[np.ndarray], np.ndarray], name: str
) -> StepPolicy:
    """The compiled ensemble when each member is a plain, checked MLP; else its ``predict``."""
    each = [
        model_policy(policy, act, f"{name} member {i}")
        for i, (policy, act) in enumerate(zip(members.policies, members.predicts, strict=True))
    ]
    actors = [one.actor for one in each if isinstance(one, MlpPolicy)]
    if len(actors) == len(each):
        return EnsembleMlpPolicy(tuple(actors), name=name)
    log.info("ensemble %s has a member that is not a plain MLP: stepping its predict", name)
    return ModelPolicy(predict, name=name)


def run_episode(
    features: FeatureSet,
    config: EnvConfig,
    policy: StepPolicy,
    seed: int | None = None,
    *,
    mode: str = "backtest",
) -> Episode:
    """Run ``policy`` from ``first_valid + config.window - 1`` to the last row (or bankruptcy) under
    ``config`` in env mode ``mode`` (eval | backtest); compiled for ``MlpPolicy``,
    ``EnsembleMlpPolicy`` and ``RulePolicy``, through ``TradingEnv`` otherwise (``seed``
    seeds that env)."""
    if mode not in EPISODE_MODES:
        raise ConfigError(f"episode mode {mode!r} is unknown; use one of {EPISODE_MODES}")
    start = first_row(features, config.window)
    if isinstance(policy, MlpPolicy):
        observations, actions, ledger = run_compiled_episode(features, config, policy.actor, mode)
    elif isinstance(policy, EnsembleMlpPolicy):
        observations, actions, ledger = run_compiled_episode(features, config, policy.actors, mode)
    elif isinstance(policy, EncodedMlpPolicy) and config.target_volatility is None:
        # (the vol target reads closes from first_valid: the embedded set starts later)
        observations, actions, ledger = run_encoded_episode(features, config, policy, mode)
    elif isinstance(policy, RulePolicy):
        planned = np.ones((len(features), 2), dtype=np.float32)
        planned[:, 0] = policy.targets
        observations, actions, ledger = run_planned_episode(features, config, planned, mode)
    else:
        observations, actions, ledger = _step_env(features, config, policy, seed, mode)
    steps = len(features) - 1 - start
    if ledger.shape[0] < steps:
        log.warning("episode ended after %d of %d steps (bankrupt)", ledger.shape[0], steps)
    return Episode(start, observations, actions, ledger, config.initial_balance)


def _step_env(
    features: FeatureSet, config: EnvConfig, policy: StepPolicy, seed: int | None, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observations, actions, ledger) of ``policy`` stepping TradingEnv bar by bar."""
    env = TradingEnv(features, config, mode=mode, seed=seed)
    try:
        obs, info = env.reset(seed=seed)
        row = int(info["bar"])
        steps = env.bounds.steps
        observations = np.empty((steps, obs.shape[0]), dtype=np.float32)
        actions = np.empty((steps, 2), dtype=np.float32)
        ledger = np.empty((steps, len(LEDGER_FIELDS)), dtype=np.float64)
        n = 0
        done = False
        while not done:
            observations[n] = obs
            actions[n] = policy.act(row, obs)
            obs, _reward, terminated, truncated, _info = env.step(actions[n])
            ledger[n] = env.ledger
            n += 1
            row += 1
            done = terminated or truncated
    finally:
        env.close()
    return observations[:n], actions[:n], ledger[:n]


def bar_times(features: FeatureSet, episode: Episode) -> pd.DatetimeIndex:
    """Bar open times of the start row and of every step's bar (length steps + 1)."""
    rows = np.arange(episode.start_row, episode.start_row + episode.ledger.shape[0] + 1)
    return pd.DatetimeIndex(pd.to_datetime(features.times[rows], utc=True), name="time")
