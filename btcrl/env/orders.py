"""The pieces of one bar of the trade engine: fills, stops, sizing, the order, carry, ledger.

Small numba functions inlined into ``btcrl.env.engine.step_range`` (``inline="always"``, so
the compiled kernel is one loop body as before). Scalars in, scalars out: the book (cash USD,
position BTC signed, entry and stop prices USD) is passed by value and returned; only the
fill functions write the ledger row. Rules and their order are in the engine's docstring.
"""

import math

import numpy as np
from numba import njit

from btcrl.env.layout import (
    BAR_TIME,
    L_BANKRUPT,
    L_BORROW,
    L_CASH,
    L_ENTRY,
    L_EP_RETURN,
    L_EP_STEPS,
    L_EQUITY,
    L_FEE,
    L_FILL_FEE,
    L_FILL_PRICE,
    L_FILL_QTY,
    L_FILL_REF,
    L_POSITION,
    L_REWARD,
    L_SLIPPAGE,
    L_STOP,
    L_TARGET,
    L_TERMINATED,
    L_TRUNCATED,
    L_VOL_SCALE,
    P_ACTION_MODE,
    P_ALLOW_SHORT,
    P_BAR_SECONDS,
    P_BARS_PER_YEAR,
    P_BORROW_RATE,
    P_DEADZONE,
    P_DECISION_INTERVAL,
    P_FEE_RATE,
    P_FIRST_ROW,
    P_HYSTERESIS,
    P_LEVELS,
    P_LEVERAGE,
    P_MAX_LEVERAGE,
    P_MAX_POSITION,
    P_MAX_STOP,
    P_MIN_STOP,
    P_N_LEVELS,
    P_PRIOR_COL,
    P_RESIDUAL_LIMIT,
    P_SLIPPAGE,
    P_TARGET_VOL,
    P_VOL_FLOOR,
    P_VOL_WINDOW,
    RULE_STOP_PCT,
)


@njit(cache=True, error_model="numpy", inline="always")
def fill(
    qty: float,
    reference: float,
    slippage: float,
    fee_rate: float,
    ledger: np.ndarray,
    i: int,
    col_price: int,
    col_qty: int,
    col_fee: int,
) -> tuple[float, float, float, float]:
    """Fill ``qty`` BTC (signed) at ``reference`` with slippage against the trader and
    ``fee_rate x notional``; record price, qty and fee in ``ledger[i]`` at the given columns.
    Returns (fill price, cash change, fee, slippage cost in USD)."""
    price = reference * (1.0 + slippage) if qty > 0.0 else reference * (1.0 - slippage)
    fee = fee_rate * abs(qty) * price
    ledger[i, col_price] = price
    ledger[i, col_qty] = qty
    ledger[i, col_fee] = fee
    return price, -(qty * price + fee), fee, abs(qty) * reference * slippage


@njit(cache=True, error_model="numpy", inline="always")
def close_out(
    pos: float,
    reference: float,
    params: np.ndarray,
    ledger: np.ndarray,
    i: int,
    col_price: int,
    col_qty: int,
    col_fee: int,
) -> tuple[float, float, float]:
    """Close the whole position at ``reference`` (a stop or the forced close).
    Returns (cash change, fee, slippage cost), USD."""
    _, d_cash, fee, slip_usd = fill(
        -pos, reference, params[P_SLIPPAGE], params[P_FEE_RATE], ledger, i, col_price,
        col_qty, col_fee,
    )  # fmt: skip
    return d_cash, fee, slip_usd


@njit(cache=True, error_model="numpy", inline="always")
def stop_through(pos: float, stop: float, long_price: float, short_price: float) -> bool:
    """An open position's stop is reached: long ``long_price <= stop``, short
    ``short_price >= stop`` (``stop`` 0 means none)."""
    return (
        pos != 0.0
        and stop > 0.0
        and ((pos > 0.0 and long_price <= stop) or (pos < 0.0 and short_price >= stop))
    )


@njit(cache=True, error_model="numpy", inline="always")
def clip_action(value: float) -> float:
    """Clip to [-1, 1]; NaN -> 0 (no exposure / tightest stop)."""
    if value != value:
        return 0.0
    return min(1.0, max(-1.0, value))


@njit(cache=True, error_model="numpy", inline="always")
def snap_target(a_pos: float, params: np.ndarray) -> float:
    """The discrete action mode: the level of ``env.action_levels`` nearest to ``a_pos`` (a
    tie goes to the level nearer to flat); ``a_pos`` unchanged when the mode is off."""
    n = int(params[P_N_LEVELS])
    if n == 0:
        return a_pos
    best = params[P_LEVELS]
    for k in range(1, n):
        level = params[P_LEVELS + k]
        gap, best_gap = abs(a_pos - level), abs(a_pos - best)
        if gap < best_gap or (gap == best_gap and abs(level) < abs(best)):
            best = level
    return best


@njit(cache=True, error_model="numpy", inline="always")
def prior_target(features: np.ndarray, row: int, params: np.ndarray) -> float:
    """The prior's target ``a_pos`` at ``row``: its observed exposure (fraction of equity; 0
    when undefined or without a prior column) times ``min(1, 1 / leverage_limit)``, rounded
    to float32 as the ``trend_voltarget`` rule's planned action is (so the two agree bit for
    bit: the float64 product of two float32 values is exact before the rounding)."""
    col = int(params[P_PRIOR_COL])
    if col < 0:
        return 0.0
    prior = features[row, col]
    if prior != prior:
        return 0.0
    scale = np.float32(min(1.0, 1.0 / params[P_LEVERAGE]))
    return float(np.float32(prior * scale))


@njit(cache=True, error_model="numpy", inline="always")
def residual_target(a_pos: float, features: np.ndarray, row: int, params: np.ndarray) -> float:
    """The residual action mode's target: ``clip(prior + residual_limit x a_pos, lo, 1)``,
    ``lo`` = -1 with shorts else 0, ``prior`` = ``prior_target`` of ``row``; ``a_pos`` 0
    gives the prior's target exactly."""
    base = prior_target(features, row, params)
    lo = -1.0 if params[P_ALLOW_SHORT] != 0.0 else 0.0
    return min(1.0, max(lo, base + params[P_RESIDUAL_LIMIT] * a_pos))


@njit(cache=True, error_model="numpy", inline="always")
def on_decision_clock(bars: np.ndarray, bar: int, steps: int, params: np.ndarray) -> bool:
    """The agent's order may fill at ``bar``'s open: always on the episode's first step;
    with ``decision_interval`` k > 1 only when ``bar`` opens a new period of the clock,
    ``floor(open time / (k x bar seconds))`` (UTC epoch seconds, ``bars[:, BAR_TIME]``)
    differing from the bar before's. Gaps in the data do not move the decision hour."""
    if params[P_DECISION_INTERVAL] <= 1.0 or steps == 0:
        return True
    period = params[P_DECISION_INTERVAL] * params[P_BAR_SECONDS]
    return math.floor(bars[bar, BAR_TIME] / period) != math.floor(bars[bar - 1, BAR_TIME] / period)


@njit(cache=True, error_model="numpy", inline="always")
def agent_target(
    actions: np.ndarray,
    i: int,
    steps: int,
    prev_target: float,
    params: np.ndarray,
    bars: np.ndarray,
    bar: int,
    features: np.ndarray,
) -> tuple[bool, float, float]:
    """(decides, a_pos, a_sl) for the step that fills at ``bar``'s open. The agent decides
    on the bars of the decision clock (:func:`on_decision_clock`); in between no order is
    placed and the target stays ``prev_target``. ``a_pos`` is clipped (to 0 when negative
    without shorts), then snapped to the nearest action level in the discrete action mode;
    in the residual action mode it moves the prior's target of the observed row ``bar - 1``
    instead (``residual_target``)."""
    if not on_decision_clock(bars, bar, steps, params):
        return False, prev_target, 0.0
    a_pos = clip_action(actions[i, 0])
    if params[P_ACTION_MODE] != 0.0:
        target = residual_target(a_pos, features, bar - 1, params)
        return True, target, clip_action(actions[i, 1])
    if params[P_ALLOW_SHORT] == 0.0 and a_pos < 0.0:
        a_pos = 0.0
    return True, snap_target(a_pos, params), clip_action(actions[i, 1])


@njit(cache=True, error_model="numpy", inline="always")
def realised_vol(prices: np.ndarray, t: int, params: np.ndarray) -> float:
    """Per-bar volatility known before bar t+1 opens: population std (ddof 0) of the
    close-to-close log returns of rows ``max(first_row + 1, t - vol_window + 1) .. t``,
    floored at ``vol_floor / sqrt(bars_per_year)`` (also used with fewer than 2 returns)."""
    floor = params[P_VOL_FLOOR] / math.sqrt(params[P_BARS_PER_YEAR])
    lo = max(int(params[P_FIRST_ROW]) + 1, t - int(params[P_VOL_WINDOW]) + 1)
    n = t - lo + 1
    if n < 2:
        return floor
    mean = 0.0
    squares = 0.0  # Welford: one log per return, no cancellation
    for j in range(lo, t + 1):
        r = math.log(prices[j, 3] / prices[j - 1, 3])
        delta = r - mean
        mean += delta / (j - lo + 1)
        squares += delta * (r - mean)
    return max(math.sqrt(squares / n), floor)


@njit(cache=True, error_model="numpy", inline="always")
def vol_scale(prices: np.ndarray, t: int, params: np.ndarray) -> float:
    """``min(max_leverage, target_volatility / realised vol)`` (both annualised, i.e. per-bar
    std x sqrt(bars_per_year)); 1.0 when vol targeting is off (``target_volatility`` 0)."""
    if params[P_TARGET_VOL] == 0.0:
        return 1.0
    target = params[P_TARGET_VOL] / math.sqrt(params[P_BARS_PER_YEAR])
    return min(params[P_MAX_LEVERAGE], target / realised_vol(prices, t, params))


@njit(cache=True, error_model="numpy", inline="always")
def hysteresis(qty: float, streak: float, params: np.ndarray) -> tuple[bool, float]:
    """Count the bars the wanted change ``qty`` (past the deadzone) kept its sign; trade once
    the count reaches ``hysteresis_bars`` (1 = at once). Returns (trade, new streak)."""
    sign = 1.0 if qty > 0.0 else -1.0
    streak = streak + sign if streak * sign > 0.0 else sign
    if abs(streak) >= params[P_HYSTERESIS]:
        return True, 0.0
    return False, streak


@njit(cache=True, error_model="numpy", inline="always")
def rebook(
    pos: float, qty: float, price: float, entry: float, stop: float, a_sl: float, params: np.ndarray
) -> tuple[float, float, float]:
    """The book after an order fill of ``qty`` at ``price``: (position, entry, stop).
    Opening or flipping sets the entry and a new stop (the rules' ``RULE_STOP_PCT`` in the
    residual action mode, whatever ``a_sl``); adding averages the entry; reducing
    keeps both; closing clears both."""
    new_pos = pos + qty
    if new_pos == 0.0:
        return new_pos, 0.0, 0.0
    if pos == 0.0 or (pos > 0.0) != (new_pos > 0.0):
        lo = params[P_MIN_STOP]
        pct = lo + (a_sl + 1.0) * 0.5 * (params[P_MAX_STOP] - lo)
        if params[P_ACTION_MODE] != 0.0:  # residual: the prior's (the rules') stop
            pct = RULE_STOP_PCT
        return new_pos, price, price * (1.0 - pct) if new_pos > 0.0 else price * (1.0 + pct)
    if abs(new_pos) > abs(pos):
        entry = (entry * abs(pos) + price * abs(qty)) / abs(new_pos)
    return new_pos, entry, stop


@njit(cache=True, error_model="numpy", inline="always")
def agent_order(
    a_pos: float,
    a_sl: float,
    scale_vol: float,
    p_open: float,
    cash: float,
    pos: float,
    entry: float,
    stop: float,
    streak: float,
    params: np.ndarray,
    ledger: np.ndarray,
    i: int,
) -> tuple[float, float, float, float, float, float, float, float]:
    """The agent's order at the open (equity ``cash + pos x O`` > 0): target BTC
    ``a_pos x scale_vol x leverage_limit x equity / O`` capped at +-max_position_btc (+-inf
    without a cap); traded
    when the change passes the deadzone and the hysteresis. Returns (cash, position, entry,
    stop, streak, fee, slippage cost, traded notional), USD / BTC."""
    scale = params[P_LEVERAGE] * (cash + pos * p_open)
    cap = params[P_MAX_POSITION]
    target = min(cap, max(-cap, a_pos * scale_vol * scale / p_open))
    qty = target - pos
    if not (qty != 0.0 and abs(qty) * p_open >= params[P_DEADZONE] * scale):
        return cash, pos, entry, stop, 0.0, 0.0, 0.0, 0.0
    trade, streak = hysteresis(qty, streak, params)
    if not trade:
        return cash, pos, entry, stop, streak, 0.0, 0.0, 0.0
    price, d_cash, fee, slip_usd = fill(
        qty, p_open, params[P_SLIPPAGE], params[P_FEE_RATE], ledger, i, L_FILL_PRICE, L_FILL_QTY,
        L_FILL_FEE,
    )  # fmt: skip
    ledger[i, L_FILL_REF] = p_open
    pos, entry, stop = rebook(pos, qty, price, entry, stop, a_sl, params)
    return cash + d_cash, pos, entry, stop, 0.0, fee, slip_usd, abs(qty) * price


@njit(cache=True, error_model="numpy", inline="always")
def borrow_cost(cash: float, pos: float, price: float, params: np.ndarray) -> float:
    """Carry of one bar, USD: ``borrow_rate_annual / bars_per_year`` times what is borrowed,
    the value of a short (``-pos x price``) plus borrowed cash of a leveraged long
    (``-cash`` when cash < 0, the part of the long above equity). 0 when the rate is 0."""
    rate = params[P_BORROW_RATE]
    if rate == 0.0:
        return 0.0
    borrowed = 0.0
    if pos < 0.0:
        borrowed -= pos * price
    if cash < 0.0:
        borrowed -= cash
    return borrowed * rate / params[P_BARS_PER_YEAR]


@njit(cache=True, error_model="numpy", inline="always")
def record_step(
    i: int, ledger: np.ndarray, cash: float, pos: float, entry: float, stop: float,
    equity: float, fees: float, slippage: float, borrow: float, bankrupt: bool, done: bool,
    reward: float, ep_return: float, steps: int, target: float, scale_vol: float,
) -> None:  # fmt: skip
    """Write the step's totals and the book after it into ``ledger[i]``."""
    ledger[i, L_FEE] = fees
    ledger[i, L_SLIPPAGE] = slippage
    ledger[i, L_BORROW] = borrow
    ledger[i, L_CASH] = cash
    ledger[i, L_POSITION] = pos
    ledger[i, L_ENTRY] = entry
    ledger[i, L_STOP] = stop
    ledger[i, L_EQUITY] = equity
    ledger[i, L_BANKRUPT] = 1.0 if bankrupt else 0.0
    ledger[i, L_REWARD] = reward
    ledger[i, L_TERMINATED] = 1.0 if bankrupt else 0.0
    ledger[i, L_TRUNCATED] = 1.0 if (done and not bankrupt) else 0.0
    ledger[i, L_EP_RETURN] = ep_return
    ledger[i, L_EP_STEPS] = steps
    ledger[i, L_TARGET] = target
    ledger[i, L_VOL_SCALE] = scale_vol
