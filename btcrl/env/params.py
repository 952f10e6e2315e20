"""What the two env shells share: input checks, episode bounds, spaces and the engine's
parameter vector (``ENGINE_TABLE``: EnvConfig field -> slot)."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from btcrl.config.env import EnvConfig
from btcrl.data.timeframes import periods_per_year, timeframe_seconds
from btcrl.env.layout import (  # noqa: F401  (RULE_STOP_PCT: re-exported)
    BAR_TIME,
    N_BAR,
    N_PARAMS,
    P_ACTION_MODE,
    P_ALLOW_SHORT,
    P_AUTO_RESET,
    P_BAR_SECONDS,
    P_BARS_PER_YEAR,
    P_BORROW_RATE,
    P_CHURN_PENALTY,
    P_DEADZONE,
    P_DECISION_INTERVAL,
    P_DOWNSIDE_WEIGHT,
    P_DRAWDOWN_PENALTY,
    P_DSR_ETA,
    P_EPISODE_STEPS,
    P_FEE_RATE,
    P_FIRST_ROW,
    P_FORCE_CLOSE,
    P_HYSTERESIS,
    P_INITIAL_BALANCE,
    P_LEVERAGE,
    P_MAX_LEVERAGE,
    P_MAX_POSITION,
    P_MAX_STOP,
    P_MIN_STOP,
    P_N_LEVELS,
    P_OBS_ACCOUNT,
    P_PRIOR_COL,
    P_RESIDUAL_LIMIT,
    P_REWARD_ID,
    P_REWARD_SCALE,
    P_SLIPPAGE,
    P_SMOOTH_PENALTY,
    P_TARGET_VOL,
    P_VOL_FLOOR,
    P_VOL_WINDOW,
    RULE_STOP_PCT,
)
from btcrl.env.rewards import RELATIVE_REWARDS, get_reward
from btcrl.errors import ConfigError, DataError
from btcrl.features.prior import EXPOSURE_COLUMN
from btcrl.features.spec import ACCOUNT_HEAD, ACCOUNT_TAIL, FeatureSet, FeatureSpec

MODES = ("train", "eval", "backtest")


@dataclass(frozen=True)
class EpisodeBounds:
    """Where episodes may start and how long they run.

    Starts are drawn uniformly from ``[first_start, last_start]`` (inclusive rows; equal in
    eval/backtest). An episode starting at row s observes rows s .. s + steps - 1 and marks
    its last step at row s + steps.
    """

    mode: str
    first_start: int
    last_start: int
    steps: int

    @property
    def random_start(self) -> bool:
        return self.last_start > self.first_start


def resolve_mode(mode: str | None, config: EnvConfig) -> str:
    """``mode`` if given, else ``config.mode``; ConfigError when not a known mode."""
    chosen = config.mode if mode is None else mode
    if chosen not in MODES:
        raise ConfigError(f"env mode {chosen!r} is unknown; choose one of {', '.join(MODES)}")
    return chosen


def observation_size(spec: FeatureSpec, window: int = 1) -> int:
    """Length of the observation: the account head and tail around ``window`` feature rows
    (the one place the size depends on ``env.window``)."""
    return len(ACCOUNT_HEAD) + window * len(spec.feature_names) + len(ACCOUNT_TAIL)


def observation_names(spec: FeatureSpec, window: int = 1) -> tuple[str, ...]:
    """Every observation entry in order; with ``window`` > 1 the feature names carry their
    lag (``rsi_14[t-63]`` .. ``rsi_14[t]``). Window 1 gives ``spec.observation_names``."""
    if window == 1:
        return spec.observation_names
    lagged = tuple(
        f"{name}[t-{lag}]" if lag else f"{name}[t]"
        for lag in range(window - 1, -1, -1)
        for name in spec.feature_names
    )
    return ACCOUNT_HEAD + lagged + ACCOUNT_TAIL


def first_row(features: FeatureSet, window: int = 1) -> int:
    """The first row an episode can start on: ``first_valid + window - 1`` (its window of
    ``window`` rows is then all valid)."""
    return features.first_valid + window - 1


def episode_bounds(features: FeatureSet, config: EnvConfig, mode: str) -> EpisodeBounds:
    """train: ``episode_length`` bars from a random start in [first, T-1-length];
    eval / backtest: the whole span from ``first`` to the last row, ``first = first_valid +
    env.window - 1`` (see :func:`first_row`)."""
    n_rows = len(features)
    first = first_row(features, config.window)
    if mode == "train":
        last = n_rows - 1 - config.episode_length
        if last < first:
            raise DataError(
                f"env.episode_length={config.episode_length} bars does not fit the "
                f"{n_rows - first} usable rows of the feature set (first row {first})"
            )
        return EpisodeBounds(mode, first, last, config.episode_length)
    steps = n_rows - 1 - first
    if steps < 1:
        raise DataError(
            f"the feature set has {n_rows - first} usable rows (first row {first}); "
            "an episode needs at least 2"
        )
    return EpisodeBounds(mode, first, first, steps)


def check_feature_set(features: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """The engine's float64 bars (T, ``N_BAR``: open, high, low, close and the open time in
    UTC epoch seconds, the decision clock) and contiguous float32 features; DataError on bad
    shapes or values."""
    prices = np.asarray(features.prices, dtype=np.float64)
    values = np.ascontiguousarray(features.features, dtype=np.float32)
    n_rows = len(features)
    if prices.shape != (n_rows, 4):
        raise DataError(f"feature set prices have shape {prices.shape}, expected ({n_rows}, 4)")
    if values.ndim != 2 or values.shape[0] != n_rows:
        raise DataError(f"feature set features have shape {values.shape}, expected ({n_rows}, F)")
    if values.shape[1] != len(features.spec.columns):
        raise DataError(
            f"feature set has {values.shape[1]} feature columns but its spec names "
            f"{len(features.spec.columns)}"
        )
    first = features.first_valid
    if not 0 <= first < n_rows:
        raise DataError(f"feature set first_valid={first} is outside its {n_rows} rows")
    live = prices[first:]
    if not (np.isfinite(live).all() and (live > 0).all()):
        bad = first + int(np.argmax(~(np.isfinite(live) & (live > 0)).all(axis=1)))
        raise DataError(f"feature set price row {bad} is not finite and positive: {prices[bad]}")
    if not np.isfinite(values[first:]).all():
        bad = first + int(np.argmax(~np.isfinite(values[first:]).all(axis=1)))
        raise DataError(f"feature set row {bad} (after first_valid={first}) holds NaN or inf")
    bars = np.empty((n_rows, N_BAR), dtype=np.float64)
    bars[:, :4] = prices
    bars[:, BAR_TIME] = np.asarray(features.times, dtype=np.int64) // 1_000_000_000
    return bars, values


def _number(value: float) -> tuple[float, ...]:
    return (float(value),)


def _levels(levels: list[float] | None) -> tuple[float, ...]:
    """``P_N_LEVELS`` then the levels from ``P_LEVELS`` (= ``P_N_LEVELS + 1``) on."""
    chosen = levels or []
    return (float(len(chosen)), *chosen)


#: EnvConfig field -> (its first slot in the parameter vector, the slot values from the
#: field's value). The one place a config field becomes an engine parameter.
ENGINE_TABLE: dict[str, tuple[int, Callable[[Any], tuple[float, ...]]]] = {
    "initial_balance": (P_INITIAL_BALANCE, _number),
    "leverage_limit": (P_LEVERAGE, _number),
    "max_position_btc": (P_MAX_POSITION, lambda cap: (cap or math.inf,)),  # none: +-inf
    "exposure_deadzone": (P_DEADZONE, _number),
    "fee_rate": (P_FEE_RATE, _number),
    "slippage_bps": (P_SLIPPAGE, lambda bps: (bps / 10_000.0,)),
    "min_stop_pct": (P_MIN_STOP, _number),
    "max_stop_pct": (P_MAX_STOP, _number),
    "allow_short": (P_ALLOW_SHORT, _number),
    "reward": (P_REWARD_ID, lambda name: (float(get_reward(name).id),)),
    "downside_weight": (P_DOWNSIDE_WEIGHT, _number),
    "dsr_eta": (P_DSR_ETA, _number),
    "reward_scale": (P_REWARD_SCALE, _number),
    "force_close_at_end": (P_FORCE_CLOSE, _number),
    "churn_penalty": (P_CHURN_PENALTY, _number),
    "smooth_penalty": (P_SMOOTH_PENALTY, _number),
    "drawdown_penalty": (P_DRAWDOWN_PENALTY, _number),
    "target_volatility": (P_TARGET_VOL, lambda vol: (vol or 0.0,)),
    "vol_window": (P_VOL_WINDOW, _number),
    "max_leverage": (P_MAX_LEVERAGE, _number),
    "vol_floor": (P_VOL_FLOOR, _number),
    "borrow_rate_annual": (P_BORROW_RATE, _number),
    "hysteresis_bars": (P_HYSTERESIS, _number),
    "decision_interval": (P_DECISION_INTERVAL, _number),
    "observation_account": (P_OBS_ACCOUNT, lambda kind: (1.0 if kind == "scale_free" else 0.0,)),
    "action_levels": (P_N_LEVELS, _levels),
    # residual action mode (issue 21): target = clip(prior + residual_limit x a_pos, lo, 1)
    "action_mode": (P_ACTION_MODE, lambda mode: (1.0 if mode == "residual" else 0.0,)),
    "residual_limit": (P_RESIDUAL_LIMIT, _number),
}
#: EnvConfig fields the engine never reads, with where the host uses them
HOST_FIELDS: dict[str, str] = {
    "episode_length": "episode_bounds: the steps of a training episode (P_EPISODE_STEPS)",
    "mode": "resolve_mode: train, eval or backtest bounds",
    "window": "the observation's feature rows (observation_size, first_row)",
    "prior": "the prior whose observed exposure column is P_PRIOR_COL (feature_params)",
}
#: slots each call sets from its arguments, not from EnvConfig
CALL_SLOTS = (
    P_EPISODE_STEPS, P_AUTO_RESET, P_BARS_PER_YEAR, P_FIRST_ROW, P_BAR_SECONDS, P_PRIOR_COL,
)  # fmt: skip


def engine_params(
    config: EnvConfig,
    steps: int,
    auto_reset: bool,
    *,
    timeframe: str = "1h",
    first_row: int = 0,
    prior_col: int = -1,
) -> np.ndarray:
    """The engine's float64 parameter vector for ``config`` (``btcrl.env.layout`` P_*),
    packed by ``ENGINE_TABLE``.

    ``timeframe`` (the feature set's bar size) gives the bars per year that annualise the
    vol target and the borrow rate, and the seconds of the decision clock; ``first_row`` is
    the feature set's first row of price history (the realised volatility reads no row
    before it); ``prior_col`` the feature column of the prior's exposure (-1: none; the
    residual action mode and the rewards relative to the prior read it, ``feature_params``
    checks it is there). ``feature_params`` fills them from a FeatureSet.
    """
    params = np.zeros(N_PARAMS, dtype=np.float64)
    for field, (slot, pack) in ENGINE_TABLE.items():
        values = pack(getattr(config, field))
        params[slot : slot + len(values)] = values
    params[P_EPISODE_STEPS] = steps
    params[P_AUTO_RESET] = float(auto_reset)
    params[P_BARS_PER_YEAR] = periods_per_year(timeframe)
    params[P_BAR_SECONDS] = timeframe_seconds(timeframe)
    params[P_FIRST_ROW] = first_row
    params[P_PRIOR_COL] = prior_col
    return params


def _check_prior(config: EnvConfig, prior_col: int) -> None:
    """ConfigError when the residual action mode or a reward relative to the prior meets a
    feature set without the prior's exposure column (``prior_col`` -1)."""
    if prior_col >= 0:
        return
    if config.reward in RELATIVE_REWARDS:
        raise ConfigError(
            f"env.reward {config.reward} is relative to the prior: its {EXPOSURE_COLUMN!r} "
            "column needs features.prior.enabled=true"
        )
    if config.action_mode == "residual":
        raise ConfigError(
            f"env.action_mode residual needs the prior's {EXPOSURE_COLUMN!r} column in the "
            "feature set: set features.prior.enabled=true"
        )


def price_history_start(features: FeatureSet) -> int:
    """The first row from which every price up to ``first_valid`` is finite and positive.
    Rows before ``first_valid`` are never observed, but they are history: the realised
    volatility reads their closes (a period's warm-up bars before its start)."""
    head = np.asarray(features.prices[: features.first_valid])
    bad = np.flatnonzero(~(np.isfinite(head) & (head > 0)).all(axis=1))
    return int(bad[-1]) + 1 if bad.size else 0


def feature_params(
    config: EnvConfig, features: FeatureSet, steps: int, auto_reset: bool
) -> np.ndarray:
    """``engine_params`` with the bars per year of ``features``, its first row of price
    history (:func:`price_history_start`) and its prior exposure column."""
    names = features.spec.feature_names
    prior_col = names.index(EXPOSURE_COLUMN) if EXPOSURE_COLUMN in names else -1
    _check_prior(config, prior_col)
    return engine_params(
        config,
        steps,
        auto_reset,
        timeframe=features.spec.timeframe,
        first_row=price_history_start(features),
        prior_col=prior_col,
    )


def observation_space(features: FeatureSet, window: int = 1) -> spaces.Box:
    """Unbounded float32 box of :func:`observation_size`."""
    size = observation_size(features.spec, window)
    return spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)


def action_space() -> spaces.Box:
    """``[a_pos, a_sl]`` in [-1, 1]."""
    return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
