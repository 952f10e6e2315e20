"""BatchTradingEnv: N accounts stepped as arrays by the trade engine, as an SB3 VecEnv."""

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from btcrl.config.env import EnvConfig
from btcrl.env.engine import reset_envs, step_envs, step_envs_parallel
from btcrl.env.layout import (
    BOOL_FIELDS,
    INT_FIELDS,
    L_EP_RETURN,
    L_EP_STEPS,
    L_TRUNCATED,
    LEDGER_FIELDS,
    N_ISTATE,
    N_LEDGER,
    N_STATE,
    P_CHURN_PENALTY,
    P_DRAWDOWN_PENALTY,
    P_SMOOTH_PENALTY,
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


class BatchTradingEnv(VecEnv):
    """N independent accounts on one FeatureSet, stepped together by one compiled call.

    Env ``i`` behaves exactly like ``TradingEnv(features, config, mode, seed=seed + i)``
    given the same actions (bit-identical observations and rewards). Finished envs restart
    inside the step (their next start row is drawn from env i's own generator); the final
    observation is in that env's ``info["terminal_observation"]``, with ``info["episode"] =
    {"r": return, "l": steps, "t": seconds}`` so SB3 logs episode stats without a Monitor,
    and ``info["TimeLimit.truncated"]``.

    Infos are cheap by default: every env that did not finish gets the same shared empty
    dict (do not write to it; it is cleared at each step), a finished env its own. The step's
    ledger for all envs is the array ``ledger`` (N, len(LEDGER_FIELDS)) (see
    ``ledger_column``), overwritten by the next step. ``full_info=True`` puts every env's
    ledger fields into its info dict (slower; for backtests and debugging).
    ``parallel=True`` spreads the envs over numba's threads (worth it from a few hundred
    envs on idle cores; on a machine shared with other work, the serial kernel is safer);
    results do not depend on it.
    """

    render_mode = None

    def __init__(
        self,
        features: FeatureSet,
        config: EnvConfig,
        n_envs: int,
        seed: int = 0,
        mode: str | None = "train",
        *,
        full_info: bool = False,
        parallel: bool = False,
    ) -> None:
        if n_envs < 1:
            raise ConfigError(f"n_envs={n_envs} must be at least 1")
        self.config = config
        self.features = features
        self.mode = resolve_mode(mode, config)
        self.full_info = full_info
        self._prices, self._values = check_feature_set(features)
        self.bounds = episode_bounds(features, config, self.mode)
        self._params = feature_params(config, features, self.bounds.steps, auto_reset=True)
        super().__init__(n_envs, observation_space(features, config.window), action_space())
        self.parallel = parallel
        self._kernel = step_envs_parallel if parallel else step_envs
        size = observation_size(features.spec, config.window)
        self._state = np.zeros((n_envs, N_STATE), dtype=np.float64)
        self._istate = np.zeros((n_envs, N_ISTATE), dtype=np.int64)
        self.ledger = np.zeros((n_envs, N_LEDGER), dtype=np.float64)
        self._obs = np.zeros((n_envs, size), dtype=np.float32)
        self._term_obs = np.zeros((n_envs, size), dtype=np.float32)
        self._rewards = np.zeros(n_envs, dtype=np.float32)
        self._dones = np.zeros(n_envs, dtype=np.bool_)
        self._actions = np.zeros((n_envs, 2), dtype=np.float32)
        self._next_start = np.full(n_envs, self.bounds.first_start, dtype=np.int64)
        self._rngs = [seeding.np_random(seed + i)[0] for i in range(n_envs)]
        self._t0 = time.time()
        self._ready = False
        self._empty_info: dict[str, Any] = {}

    # -- the ledger as arrays -------------------------------------------------------------
    def ledger_column(self, name: str) -> np.ndarray:
        """One ledger field of the last step for every env (a view, overwritten next step)."""
        try:
            return self.ledger[:, LEDGER_FIELDS.index(name)]
        except ValueError:
            raise ConfigError(
                f"ledger field {name!r} is unknown; fields: {', '.join(LEDGER_FIELDS)}"
            ) from None

    # -- reward weights (set between steps, e.g. by btcrl.agents.curriculum) --------------
    _WEIGHTS = (  # noqa: RUF012
        ("churn_penalty", P_CHURN_PENALTY),
        ("smooth_penalty", P_SMOOTH_PENALTY),
        ("drawdown_penalty", P_DRAWDOWN_PENALTY),
    )

    def reward_weights(self) -> dict[str, float]:
        """The shaping weights every env steps with now (see ``btcrl.env.rewards``)."""
        return {name: float(self._params[k]) for name, k in self._WEIGHTS}

    def set_reward_weights(self, **weights: float) -> None:
        """Change shaping weights (``churn_penalty``, ``smooth_penalty``,
        ``drawdown_penalty``; reward units, >= 0) for every env from the next step on.
        Equity, fills and the ledger do not depend on them, only the reward."""
        index = dict(self._WEIGHTS)
        for name, value in weights.items():
            if name not in index:
                known = ", ".join(index)
                raise ConfigError(f"reward weight {name!r} is unknown; choose from {known}")
            if not value >= 0.0:
                raise ConfigError(f"reward weight {name}={value} must be >= 0")
            self._params[index[name]] = value

    def _draw(self, i: int) -> int:
        bounds = self.bounds
        if not bounds.random_start:
            return bounds.first_start
        return int(self._rngs[i].integers(bounds.first_start, bounds.last_start + 1))

    # -- VecEnv interface -----------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset every env (seeds from ``seed()`` apply here), then pre-draw next starts."""
        for i, env_seed in enumerate(self._seeds):
            if env_seed is not None:
                self._rngs[i] = seeding.np_random(env_seed)[0]
        self._reset_seeds()
        self._reset_options()
        starts = np.array([self._draw(i) for i in range(self.num_envs)], dtype=np.int64)
        mask = np.ones(self.num_envs, dtype=np.bool_)
        reset_envs(mask, starts, self._values, self._params, self._state, self._istate, self._obs)
        for i in range(self.num_envs):
            self._next_start[i] = self._draw(i)
        self.reset_infos = [{"bar": int(s)} for s in starts]
        self._ready = True
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.num_envs, 2):
            raise ConfigError(f"actions have shape {actions.shape}, expected ({self.num_envs}, 2)")
        self._actions[...] = actions

    def step_wait(self) -> VecEnvStepReturn:
        if not self._ready:
            raise RuntimeError("BatchTradingEnv.step() called before reset()")
        self._kernel(
            self._prices,
            self._values,
            self._actions,
            self._params,
            self._next_start,
            self._state,
            self._istate,
            self.ledger,
            self._obs,
            self._term_obs,
            self._rewards,
            self._dones,
        )
        if self.full_info:
            infos = self._full_infos()
        else:
            self._empty_info.clear()  # undo any caller's writes to the shared dict
            infos = [self._empty_info] * self.num_envs
        finished = np.flatnonzero(self._dones)
        if finished.size:
            self._finish_episodes(finished, infos)
        return self._obs.copy(), self._rewards.copy(), self._dones.copy(), infos

    def _finish_episodes(self, finished: np.ndarray, infos: list[dict[str, Any]]) -> None:
        elapsed = round(time.time() - self._t0, 6)
        ledger = self.ledger
        for i in finished.tolist():
            info = infos[i] if self.full_info else {}
            infos[i] = info
            info["terminal_observation"] = self._term_obs[i].copy()
            info["episode"] = {
                "r": float(ledger[i, L_EP_RETURN]),
                "l": int(ledger[i, L_EP_STEPS]),
                "t": elapsed,
            }
            info["TimeLimit.truncated"] = bool(ledger[i, L_TRUNCATED])
            self._next_start[i] = self._draw(i)

    def _full_infos(self) -> list[dict[str, Any]]:
        infos = []
        for values in self.ledger.tolist():
            info = dict(zip(LEDGER_FIELDS, values, strict=True))
            for name in BOOL_FIELDS:
                info[name] = info[name] != 0.0
            for name in INT_FIELDS:
                info[name] = int(info[name])
            infos.append(info)
        return infos

    def close(self) -> None:
        self._ready = False

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices) if isinstance(indices, Iterable) else [indices]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of this env, once per index (the envs share one object)."""
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute shared by every env (indices are accepted but not per env)."""
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
