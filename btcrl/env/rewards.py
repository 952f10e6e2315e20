"""Reward registry: named, pure per-step reward functions, chosen by ``EnvConfig.reward``.

Every reward has the same signature so that the compiled engine can call it per env::

    fn(equity_prev, equity_new, dsr_a, dsr_b, params) -> (reward, dsr_a, dsr_b)

``equity_prev`` is the equity marked at the close of row t, ``equity_new`` at the close of
row t+1 (USD, after every fill of the bar). ``dsr_a`` / ``dsr_b`` are the per-env running
moments of the differential Sharpe ratio (0 at reset); rewards that do not use them pass
them through. ``params`` is the engine's parameter vector (see ``btcrl.env.layout``). The
engine multiplies the result by ``reward_scale``.

A step's return is the log return ``r = log(equity_new / equity_prev)``; when the book goes
bankrupt (equity_new <= 0) the new equity is floored at ``BANKRUPTCY_FLOOR x initial_balance``
so the reward stays finite (about -13.8 for a book at its initial balance).

On top of the chosen reward the engine subtracts the shaping terms below (``shaping``), each
a pure function times its weight from the config (0 = off, the default). They shape training
only: validation, backtests and walk-forward score the equity curve (plain log return at full
costs), never the reward.

Rewards relative to the prior (``excess_log_return``, ``excess_differential_sharpe``;
docs/env.md "Rewards relative to the prior") take one more input, the prior's log return on
the same bar (``prior_step_return``), and score the agent's log return minus it: what the
agent adds to the rule it starts from, not its return. They need the prior's columns
(``features.prior.enabled``).

Adding a reward: write the function here, add it to ``REWARDS`` with the next id and add
one branch to ``compute_reward`` (numba needs the dispatch spelled out).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from btcrl.env.layout import (
    P_ALLOW_SHORT,
    P_CHURN_PENALTY,
    P_DOWNSIDE_WEIGHT,
    P_DRAWDOWN_PENALTY,
    P_DSR_ETA,
    P_FEE_RATE,
    P_INITIAL_BALANCE,
    P_REWARD_ID,
    P_SLIPPAGE,
    P_SMOOTH_PENALTY,
)
from btcrl.env.orders import prior_target
from btcrl.errors import ConfigError

BANKRUPTCY_FLOOR = 1e-6  # fraction of initial_balance used in place of equity <= 0
_MIN_VARIANCE = 1e-12  # DSR is 0 while the running variance is below this


@njit(cache=True, error_model="numpy", inline="always")
def step_log_return(equity_prev: float, equity_new: float, params: np.ndarray) -> float:
    """log(equity_new / equity_prev), with the bankruptcy floor on equity_new."""
    floor = BANKRUPTCY_FLOOR * params[P_INITIAL_BALANCE]
    return math.log(max(equity_new, floor) / equity_prev)


@njit(cache=True, error_model="numpy", inline="always")
def log_return(
    equity_prev: float, equity_new: float, dsr_a: float, dsr_b: float, params: np.ndarray
) -> tuple[float, float, float]:
    """The step's log return: sums to the episode's log growth of equity."""
    return step_log_return(equity_prev, equity_new, params), dsr_a, dsr_b


@njit(cache=True, error_model="numpy", inline="always")
def asymmetric_drawdown(
    equity_prev: float, equity_new: float, dsr_a: float, dsr_b: float, params: np.ndarray
) -> tuple[float, float, float]:
    """Log return, with losses multiplied by ``downside_weight``.

    A losing step always deepens the drawdown from the running peak by exactly its log
    loss, so this equals ``r - (w - 1) x (increase of the log drawdown)``: steps into a
    drawdown cost ``w`` times, recoveries and new highs count once. ``w = 1`` is log_return.
    """
    r = step_log_return(equity_prev, equity_new, params)
    if r < 0.0:
        r = r * params[P_DOWNSIDE_WEIGHT]
    return r, dsr_a, dsr_b


@njit(cache=True, error_model="numpy", inline="always")
def dsr_update(
    r: float, dsr_a: float, dsr_b: float, params: np.ndarray
) -> tuple[float, float, float]:
    """Differential Sharpe ratio (Moody & Saffell, 1998) of the step's return ``r``.

    With ``A``, ``B`` the exponential moving averages (rate ``eta = dsr_eta``) of ``r`` and
    ``r^2`` before the step: ``D = (B dA - A dB / 2) / (B - A^2)^(3/2)`` with
    ``dA = r - A`` and ``dB = r^2 - B``; then ``A += eta dA``, ``B += eta dB``.
    ``D`` is 0 while ``B - A^2`` is below 1e-12 (at reset, and for a flat book).
    """
    eta = params[P_DSR_ETA]
    delta_a = r - dsr_a
    delta_b = r * r - dsr_b
    variance = dsr_b - dsr_a * dsr_a
    reward = 0.0
    if variance > _MIN_VARIANCE:
        reward = (dsr_b * delta_a - 0.5 * dsr_a * delta_b) / (variance * math.sqrt(variance))
    return reward, dsr_a + eta * delta_a, dsr_b + eta * delta_b


@njit(cache=True, error_model="numpy", inline="always")
def differential_sharpe(
    equity_prev: float, equity_new: float, dsr_a: float, dsr_b: float, params: np.ndarray
) -> tuple[float, float, float]:
    """The differential Sharpe ratio (``dsr_update``) of the step's log return."""
    return dsr_update(step_log_return(equity_prev, equity_new, params), dsr_a, dsr_b, params)


@njit(cache=True, error_model="numpy", inline="always")
def prior_step_return(
    prices: np.ndarray, features: np.ndarray, bar: int, params: np.ndarray
) -> float:
    """The prior's log return over ``bar`` (= t + 1) after costs, as if it held its target
    exposure: ``p0`` (row t - 1's prior) from the close of t to the open of ``bar``, then
    ``p1`` (row t's, filled at that open) to its close, paying ``fee_rate + slippage`` on
    ``|p1 - p0|``. Exposures are the prior's targets (``orders.prior_target``); a
    shadow of the prior's own book, not the engine's (no deadzone, no drift between bars)."""
    t = bar - 1
    p1 = prior_target(features, t, params)
    p0 = prior_target(features, t - 1, params) if t > 0 else 0.0
    lo = -1.0 if params[P_ALLOW_SHORT] != 0.0 else 0.0
    p1 = min(1.0, max(lo, p1))
    p0 = min(1.0, max(lo, p0))
    cost = (params[P_FEE_RATE] + params[P_SLIPPAGE]) * abs(p1 - p0)
    gap = 1.0 + p0 * (prices[bar, 0] / prices[t, 3] - 1.0) - cost
    inside = 1.0 + p1 * (prices[bar, 3] / prices[bar, 0] - 1.0)
    return math.log(max(gap * inside, BANKRUPTCY_FLOOR))


@njit(cache=True, error_model="numpy", inline="always")
def excess_log_return(
    equity_prev: float, equity_new: float, dsr_a: float, dsr_b: float, params: np.ndarray,
    prior_return: float,
) -> tuple[float, float, float]:  # fmt: skip
    """The step's log return minus the prior's on the same bar (``prior_step_return``):
    sums to the episode's log growth over the prior's."""
    return step_log_return(equity_prev, equity_new, params) - prior_return, dsr_a, dsr_b


@njit(cache=True, error_model="numpy", inline="always")
def excess_differential_sharpe(
    equity_prev: float, equity_new: float, dsr_a: float, dsr_b: float, params: np.ndarray,
    prior_return: float,
) -> tuple[float, float, float]:  # fmt: skip
    """The differential Sharpe ratio (``dsr_update``) of the excess log return over the
    prior's: rewards a better Sharpe of what the agent adds to the prior."""
    excess = step_log_return(equity_prev, equity_new, params) - prior_return
    return dsr_update(excess, dsr_a, dsr_b, params)


@dataclass(frozen=True)
class RewardSpec:
    """A registered reward: its id inside the engine, the function and one line on it."""

    id: int
    fn: Callable[..., tuple[float, float, float]]
    summary: str


REWARDS: dict[str, RewardSpec] = {
    "log_return": RewardSpec(0, log_return, "log growth of equity per step"),
    "asymmetric_drawdown": RewardSpec(
        1, asymmetric_drawdown, "log return, losses x downside_weight"
    ),
    "differential_sharpe": RewardSpec(
        2, differential_sharpe, "differential Sharpe ratio (Moody & Saffell), EMA rate dsr_eta"
    ),
    "excess_log_return": RewardSpec(
        3, excess_log_return, "log return minus the prior's on the same bar, after costs"
    ),
    "excess_differential_sharpe": RewardSpec(
        4, excess_differential_sharpe, "differential Sharpe ratio of the excess over the prior"
    ),
}
#: rewards that read the prior's return (need the prior's columns)
RELATIVE_REWARDS = ("excess_log_return", "excess_differential_sharpe")
RELATIVE_FIRST_ID = 3  # rewards with this id or above are relative to the prior


def reward_names() -> tuple[str, ...]:
    """Registered reward names, in id order."""
    return tuple(REWARDS)


def get_reward(name: str) -> RewardSpec:
    """The registered reward ``name``; ConfigError listing the names when unknown."""
    try:
        return REWARDS[name]
    except KeyError:
        raise ConfigError(
            f"env.reward={name!r} is not a registered reward; choose one of "
            f"{', '.join(reward_names())}"
        ) from None


@njit(cache=True, error_model="numpy", inline="always")
def uses_prior(params: np.ndarray) -> bool:
    """The chosen reward is relative to the prior (reads ``prior_step_return``)."""
    return int(params[P_REWARD_ID]) >= RELATIVE_FIRST_ID


@njit(cache=True, error_model="numpy", inline="always")
def compute_reward(
    equity_prev: float,
    equity_new: float,
    dsr_a: float,
    dsr_b: float,
    params: np.ndarray,
    prior_return: float = 0.0,
) -> tuple[float, float, float]:
    """Dispatch on ``params[P_REWARD_ID]`` to the registered reward (unscaled);
    ``prior_return`` is the prior's log return over the bar, read by the rewards relative to
    the prior (``uses_prior``)."""
    rid = int(params[P_REWARD_ID])
    if rid == 3:
        return excess_log_return(equity_prev, equity_new, dsr_a, dsr_b, params, prior_return)
    if rid == 4:
        return excess_differential_sharpe(
            equity_prev, equity_new, dsr_a, dsr_b, params, prior_return
        )
    if rid == 1:
        return asymmetric_drawdown(equity_prev, equity_new, dsr_a, dsr_b, params)
    if rid == 2:
        return differential_sharpe(equity_prev, equity_new, dsr_a, dsr_b, params)
    return log_return(equity_prev, equity_new, dsr_a, dsr_b, params)


# --- shaping terms (subtracted from the reward, before reward_scale) --------------------
@njit(cache=True, error_model="numpy", inline="always")
def churn_term(traded_notional: float, equity_prev: float) -> float:
    """Turnover of the step: the agent order's notional (USD, ``|qty| x fill price``) over
    the equity before the step (USD); 1.0 = the whole book traded once. >= 0."""
    return traded_notional / equity_prev


@njit(cache=True, error_model="numpy", inline="always")
def smooth_term(target: float, prev_target: float) -> float:
    """Squared change of the target exposure (fractions of leverage x equity, in [-1, 1]):
    0 for a held target, 4 for a flip from full short to full long."""
    change = target - prev_target
    return change * change


@njit(cache=True, error_model="numpy", inline="always")
def drawdown_term(equity_new: float, peak: float) -> float:
    """Drawdown of the book below the episode's running peak (incl. this step), as a
    fraction of the peak: 0 at a new high, 0.2 at 20 % under it. Paid every bar spent
    under water, so long drawdowns cost more than short ones."""
    return 1.0 - equity_new / peak


@njit(cache=True, error_model="numpy", inline="always")
def shaping(
    traded_notional: float,
    equity_prev: float,
    target: float,
    prev_target: float,
    equity_new: float,
    peak: float,
    params: np.ndarray,
) -> float:
    """Weighted sum of the shaping terms (``churn_penalty``, ``smooth_penalty``,
    ``drawdown_penalty``); a term with weight 0 is not evaluated. Reward units."""
    total = 0.0
    if params[P_CHURN_PENALTY] != 0.0:
        total += params[P_CHURN_PENALTY] * churn_term(traded_notional, equity_prev)
    if params[P_SMOOTH_PENALTY] != 0.0:
        total += params[P_SMOOTH_PENALTY] * smooth_term(target, prev_target)
    if params[P_DRAWDOWN_PENALTY] != 0.0:
        total += params[P_DRAWDOWN_PENALTY] * drawdown_term(equity_new, peak)
    return total
