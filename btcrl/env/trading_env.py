"""TradingEnv: the gymnasium env (one account) over the batched trade engine at N = 1."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from btcrl.config.env import EnvConfig
from btcrl.env.engine import reset_envs, step_envs
from btcrl.env.layout import (
    BOOL_FIELDS,
    INT_FIELDS,
    L_REWARD,
    L_TERMINATED,
    L_TRUNCATED,
    LEDGER_FIELDS,
    N_ISTATE,
    N_LEDGER,
    N_STATE,
    ROW,
)
from btcrl.env.params import (
    action_space,
    check_feature_set,
    episode_bounds,
    feature_params,
    observation_size,
    observation_space,
    resolve_mode,
)
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet

_BOOL_INDEX = tuple((name, LEDGER_FIELDS.index(name)) for name in BOOL_FIELDS)
_INT_INDEX = tuple((name, LEDGER_FIELDS.index(name)) for name in INT_FIELDS)


class TradingEnv(gym.Env[np.ndarray, np.ndarray]):
    """Trade one BTC account bar by bar on a FeatureSet (rules in ``btcrl.env.engine``).

    - ``mode="train"``: each episode starts at a random row in ``[first_valid,
      T-1-episode_length]`` (drawn from the env's seeded generator) and runs
      ``episode_length`` steps; ``"eval"`` / ``"backtest"``: one deterministic episode
      from ``features.first_valid`` to the last row. ``mode=None`` takes ``config.mode``.
    - Observation: float32 ``[cash / initial_balance, *features[t], position /
      max_position_btc]``; action: float32 ``[a_pos, a_sl]`` in [-1, 1].
    - ``terminated`` on bankruptcy (equity <= 0), ``truncated`` when the episode runs
      out of bars. ``info`` holds the step's ledger (``btcrl.env.layout.LEDGER_FIELDS``):
      every fill with price, signed BTC quantity and fee, and the book after the step.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012
    render_mode = None

    def __init__(
        self,
        features: FeatureSet,
        config: EnvConfig,
        mode: str | None = "train",
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.features = features
        self.mode = resolve_mode(mode, config)
        self._prices, self._values = check_feature_set(features)
        self.bounds = episode_bounds(features, config, self.mode)
        self._params = feature_params(config, features, self.bounds.steps, auto_reset=False)
        self.observation_space = observation_space(features, config.window)
        self.action_space = action_space()
        size = observation_size(features.spec, config.window)
        self._state = np.zeros((1, N_STATE), dtype=np.float64)
        self._istate = np.zeros((1, N_ISTATE), dtype=np.int64)
        self._ledger = np.zeros((1, N_LEDGER), dtype=np.float64)
        self._obs = np.zeros((1, size), dtype=np.float32)
        self._term_obs = np.zeros((1, size), dtype=np.float32)
        self._rewards = np.zeros(1, dtype=np.float32)
        self._dones = np.zeros(1, dtype=np.bool_)
        self._action = np.zeros((1, 2), dtype=np.float32)
        self._starts = np.zeros(1, dtype=np.int64)
        self._mask = np.ones(1, dtype=np.bool_)
        self._ready = False
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)

    @property
    def row(self) -> int:
        """The row the next observation was built from (t)."""
        return int(self._istate[0, ROW])

    @property
    def ledger(self) -> np.ndarray:
        """The last step's ledger row, float64 ``(len(LEDGER_FIELDS),)`` (overwritten)."""
        return self._ledger[0]

    def draw_start(self) -> int:
        """The next episode's first row (random in train mode, ``first_valid`` otherwise)."""
        bounds = self.bounds
        if not bounds.random_start:
            return bounds.first_start
        return int(self.np_random.integers(bounds.first_start, bounds.last_start + 1))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``options={"start": row}`` pins its first row."""
        super().reset(seed=seed)
        if options and "start" in options:
            start = int(options["start"])
            if not self.bounds.first_start <= start <= self.bounds.last_start:
                raise ConfigError(
                    f"reset start row {start} is outside [{self.bounds.first_start}, "
                    f"{self.bounds.last_start}]"
                )
        else:
            start = self.draw_start()
        self._starts[0] = start
        reset_envs(
            self._mask,
            self._starts,
            self._values,
            self._params,
            self._state,
            self._istate,
            self._obs,
        )
        self._ready = True
        return self._obs[0].copy(), {"bar": start}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Fill the order at the next bar's open, run stops, mark at its close."""
        if not self._ready:
            raise RuntimeError("TradingEnv.step() called before reset() or after the episode ended")
        self._action[0] = action
        step_envs(
            self._prices,
            self._values,
            self._action,
            self._params,
            self._starts,
            self._state,
            self._istate,
            self._ledger,
            self._obs,
            self._term_obs,
            self._rewards,
            self._dones,
        )
        values = self._ledger[0].tolist()
        info = dict(zip(LEDGER_FIELDS, values, strict=True))
        for name, k in _BOOL_INDEX:
            info[name] = values[k] != 0.0
        for name, k in _INT_INDEX:
            info[name] = int(values[k])
        terminated = values[L_TERMINATED] != 0.0
        truncated = values[L_TRUNCATED] != 0.0
        if terminated or truncated:
            self._ready = False
        return self._obs[0].copy(), values[L_REWARD], terminated, truncated, info
