# FROZEN test fixture: btcrl/env/engine.py as of commit eb7106f (before the engine split),
# kept verbatim except for the imports of its sibling frozen copies. Do not edit: the
# bit-identical test (test_engine_bitidentical.py) compares the live engine against it.
"""The trade engine: pure, compiled functions over packed arrays with a leading env axis.

One engine serves the gymnasium env (N = 1), the SB3 VecEnv (N envs) and the backtest, so
fills, fees and stops cannot disagree. The functions have no I/O, no globals and no
randomness: every input is an argument (episode start rows are drawn by the caller) and
results are written into caller-owned buffers (no allocation per step). Arrays are laid out
as in ``btcrl.env.layout``; prices are float64 (T, 4) open/high/low/close, features float32
(T, F). Each env is computed by the same scalar code without fastmath, so an env gives
bit-identical results whether it is stepped alone or among N.

Order of events in the bar ``b = t + 1`` that one step fills and marks (O, H, L, C its
prices, ``s`` the slippage fraction):

1. **Resting stop at a gapped open.** If the carried position's stop is already through at
   the open (long: ``O <= stop``, short: ``O >= stop``) it fills at ``O`` (with slippage);
   the agent's order for this bar is then dropped (it was sized for a book that no longer
   exists; the agent decides again at the next bar).
2. **The agent's order at the open.** Equity at the open ``E = cash + position x O``; target
   ``a_pos x leverage_limit x E / O`` BTC (``a_pos`` clipped to [-1, 1], to [0, 1] without
   shorts), capped at +-``max_position_btc``. No trade when ``|target - position| x O <
   exposure_deadzone x leverage_limit x E`` or when ``E <= 0``. The fill price is
   ``O x (1 + s)`` buying, ``O x (1 - s)`` selling; fee ``fee_rate x |qty| x price``.
   Opening or flipping sets the entry to the fill price and the stop at ``pct`` below
   (long) / above (short) it, ``pct = min_stop_pct + (a_sl + 1) / 2 x (max_stop_pct -
   min_stop_pct)``. Adding to a position averages the entry and keeps the stop; reducing
   keeps both; closing clears both (0).
3. **Intra-bar stop.** Long: ``L <= stop``; short: ``H >= stop``: fills at the stop (at the
   open if the open was already through it, which only a just-opened position with a stop
   inside the slippage can see), with slippage and fee. At most one stop fill per bar.
4. **Mark** ``equity = cash + position x C``.
5. **End.** Bankruptcy (equity <= 0) terminates; reaching the episode's last bar truncates.
6. **Forced close** (``force_close_at_end``): on the bar that ends the episode, an open
   position is closed at ``C`` with slippage and fee; equity is then the cash.
7. **Reward** from the equity before and after the step (``btcrl.env.rewards``), times
   ``reward_scale``.

The next observation is row ``b``: ``[cash / initial_balance, *features[b], position /
max_position_btc]`` (float32). There is no funding, borrow interest or margin call beyond
bankruptcy.
"""

import numpy as np
from numba import njit, prange

from .legacy_layout import (
    CASH,
    DSR_A,
    DSR_B,
    END,
    ENTRY,
    EP_RETURN,
    EQUITY,
    L_BANKRUPT,
    L_BAR,
    L_CASH,
    L_CLOSE_FEE,
    L_CLOSE_PRICE,
    L_CLOSE_QTY,
    L_ENTRY,
    L_EP_RETURN,
    L_EP_STEPS,
    L_EQUITY,
    L_FEE,
    L_FILL_FEE,
    L_FILL_PRICE,
    L_FILL_QTY,
    L_FORCED,
    L_POSITION,
    L_REWARD,
    L_SLIPPAGE,
    L_STOP,
    L_STOP_FEE,
    L_STOP_HIT,
    L_STOP_PRICE,
    L_STOP_QTY,
    L_TERMINATED,
    L_TRUNCATED,
    N_LEDGER,
    P_ALLOW_SHORT,
    P_AUTO_RESET,
    P_DEADZONE,
    P_EPISODE_STEPS,
    P_FEE_RATE,
    P_FORCE_CLOSE,
    P_INITIAL_BALANCE,
    P_LEVERAGE,
    P_MAX_POSITION,
    P_MAX_STOP,
    P_MIN_STOP,
    P_REWARD_SCALE,
    P_SLIPPAGE,
    POSITION,
    ROW,
    STEPS,
    STOP,
)
from .legacy_rewards import compute_reward

PARALLEL_CHUNKS = 64  # env blocks handed to numba's threads (each steps its block serially)


@njit(cache=True, error_model="numpy", inline="always")
def write_observation(
    out: np.ndarray,
    i: int,
    features: np.ndarray,
    row: int,
    cash: float,
    position: float,
    params: np.ndarray,
) -> None:
    """Write ``[cash / initial_balance, *features[row], position / max_position_btc]``
    into ``out[i]``."""
    n_features = features.shape[1]
    out[i, 0] = cash / params[P_INITIAL_BALANCE]
    for k in range(n_features):
        out[i, 1 + k] = features[row, k]
    out[i, 1 + n_features] = position / params[P_MAX_POSITION]


@njit(cache=True, error_model="numpy", inline="always")
def reset_env(
    i: int,
    start: int,
    features: np.ndarray,
    params: np.ndarray,
    state: np.ndarray,
    istate: np.ndarray,
    obs: np.ndarray,
) -> None:
    """Start env ``i``'s episode at row ``start``: flat book, initial cash; write its obs."""
    balance = params[P_INITIAL_BALANCE]
    state[i, CASH] = balance
    state[i, POSITION] = 0.0
    state[i, ENTRY] = 0.0
    state[i, STOP] = 0.0
    state[i, EQUITY] = balance
    state[i, DSR_A] = 0.0
    state[i, DSR_B] = 0.0
    state[i, EP_RETURN] = 0.0
    istate[i, ROW] = start
    istate[i, END] = start + int(params[P_EPISODE_STEPS])
    istate[i, STEPS] = 0
    write_observation(obs, i, features, start, balance, 0.0, params)


@njit(cache=True, error_model="numpy", inline="always")
def reset_envs(
    mask: np.ndarray,
    starts: np.ndarray,
    features: np.ndarray,
    params: np.ndarray,
    state: np.ndarray,
    istate: np.ndarray,
    obs: np.ndarray,
) -> None:
    """Reset every env ``i`` with ``mask[i]`` to start at ``starts[i]``."""
    for i in range(mask.shape[0]):
        if mask[i]:
            reset_env(i, starts[i], features, params, state, istate, obs)


@njit(cache=True, error_model="numpy", inline="always")
def _fill(
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
def _stop_pct(a_sl: float, params: np.ndarray) -> float:
    lo = params[P_MIN_STOP]
    return lo + (a_sl + 1.0) * 0.5 * (params[P_MAX_STOP] - lo)


@njit(cache=True, error_model="numpy", inline="always")
def _clip_action(value: float) -> float:
    if value != value:  # NaN -> no exposure / tightest stop
        return 0.0
    return min(1.0, max(-1.0, value))


@njit(cache=True, error_model="numpy")
def step_range(
    lo: int,
    hi: int,
    prices: np.ndarray,
    features: np.ndarray,
    actions: np.ndarray,
    params: np.ndarray,
    next_start: np.ndarray,
    state: np.ndarray,
    istate: np.ndarray,
    ledger: np.ndarray,
    obs: np.ndarray,
    term_obs: np.ndarray,
    rewards: np.ndarray,
    dones: np.ndarray,
) -> None:
    """Step envs ``lo <= i < hi`` by one bar (see the module docstring for the order of
    events). Arrays have the env on the leading axis; for each env this writes the ledger
    row ``ledger[i]``, the reward (float32) and done flag, the next
    observation ``obs[i]``, and the new state. When the episode ends and auto-reset is on,
    the final observation goes to ``term_obs[i]`` and the env restarts at ``next_start[i]``.
    """
    slip = params[P_SLIPPAGE]
    fee_rate = params[P_FEE_RATE]
    for i in range(lo, hi):
        t = istate[i, ROW]
        bar = t + 1
        p_open = prices[bar, 0]
        p_high = prices[bar, 1]
        p_low = prices[bar, 2]
        p_close = prices[bar, 3]
        cash = state[i, CASH]
        pos = state[i, POSITION]
        entry = state[i, ENTRY]
        stop = state[i, STOP]
        equity_prev = state[i, EQUITY]
        for k in range(N_LEDGER):
            ledger[i, k] = 0.0
        ledger[i, L_BAR] = bar
        fees = 0.0
        slippage_cost = 0.0

        # 1. a carried stop already through at the open fills there; the order is dropped
        gapped = (
            pos != 0.0
            and stop > 0.0
            and ((pos > 0.0 and p_open <= stop) or (pos < 0.0 and p_open >= stop))
        )
        if gapped:
            _, d_cash, fee, slip_usd = _fill(
                -pos, p_open, slip, fee_rate, ledger, i, L_STOP_PRICE, L_STOP_QTY, L_STOP_FEE
            )
            cash += d_cash
            fees += fee
            slippage_cost += slip_usd
            ledger[i, L_STOP_HIT] = 1.0
            pos = 0.0
            entry = 0.0
            stop = 0.0

        # 2. the agent's order at the open
        equity_open = cash + pos * p_open
        if not gapped and equity_open > 0.0:
            a_pos = _clip_action(actions[i, 0])
            a_sl = _clip_action(actions[i, 1])
            if params[P_ALLOW_SHORT] == 0.0 and a_pos < 0.0:
                a_pos = 0.0
            scale = params[P_LEVERAGE] * equity_open
            cap = params[P_MAX_POSITION]
            target = min(cap, max(-cap, a_pos * scale / p_open))
            qty = target - pos
            if qty != 0.0 and abs(qty) * p_open >= params[P_DEADZONE] * scale:
                price, d_cash, fee, slip_usd = _fill(
                    qty, p_open, slip, fee_rate, ledger, i, L_FILL_PRICE, L_FILL_QTY, L_FILL_FEE
                )
                cash += d_cash
                fees += fee
                slippage_cost += slip_usd
                new_pos = pos + qty
                if new_pos == 0.0:
                    entry = 0.0
                    stop = 0.0
                elif pos == 0.0 or (pos > 0.0) != (new_pos > 0.0):
                    entry = price
                    pct = _stop_pct(a_sl, params)
                    stop = price * (1.0 - pct) if new_pos > 0.0 else price * (1.0 + pct)
                elif abs(new_pos) > abs(pos):
                    entry = (entry * abs(pos) + price * abs(qty)) / abs(new_pos)
                pos = new_pos

        # 3. the stop inside the bar
        hit = (
            pos != 0.0
            and stop > 0.0
            and ((pos > 0.0 and p_low <= stop) or (pos < 0.0 and p_high >= stop))
        )
        if hit:
            through = (pos > 0.0 and p_open <= stop) or (pos < 0.0 and p_open >= stop)
            reference = p_open if through else stop
            _, d_cash, fee, slip_usd = _fill(
                -pos, reference, slip, fee_rate, ledger, i, L_STOP_PRICE, L_STOP_QTY, L_STOP_FEE
            )
            cash += d_cash
            fees += fee
            slippage_cost += slip_usd
            ledger[i, L_STOP_HIT] = 1.0
            pos = 0.0
            entry = 0.0
            stop = 0.0

        # 4. mark; 5. end of episode
        equity = cash + pos * p_close
        bankrupt = equity <= 0.0
        done = bankrupt or bar >= istate[i, END]

        # 6. forced close at the episode's last close
        if done and pos != 0.0 and params[P_FORCE_CLOSE] != 0.0:
            _, d_cash, fee, slip_usd = _fill(
                -pos, p_close, slip, fee_rate, ledger, i, L_CLOSE_PRICE, L_CLOSE_QTY, L_CLOSE_FEE
            )
            cash += d_cash
            fees += fee
            slippage_cost += slip_usd
            ledger[i, L_FORCED] = 1.0
            pos = 0.0
            entry = 0.0
            stop = 0.0
            equity = cash
            bankrupt = equity <= 0.0

        # 7. reward
        reward, dsr_a, dsr_b = compute_reward(
            equity_prev, equity, state[i, DSR_A], state[i, DSR_B], params
        )
        reward *= params[P_REWARD_SCALE]
        ep_return = state[i, EP_RETURN] + reward
        steps = istate[i, STEPS] + 1

        ledger[i, L_FEE] = fees
        ledger[i, L_SLIPPAGE] = slippage_cost
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
        rewards[i] = reward
        dones[i] = done

        state[i, CASH] = cash
        state[i, POSITION] = pos
        state[i, ENTRY] = entry
        state[i, STOP] = stop
        state[i, EQUITY] = equity
        state[i, DSR_A] = dsr_a
        state[i, DSR_B] = dsr_b
        state[i, EP_RETURN] = ep_return
        istate[i, ROW] = bar
        istate[i, STEPS] = steps
        if done and params[P_AUTO_RESET] != 0.0:
            write_observation(term_obs, i, features, bar, cash, pos, params)
            reset_env(i, next_start[i], features, params, state, istate, obs)
        else:
            write_observation(obs, i, features, bar, cash, pos, params)


@njit(cache=True, error_model="numpy")
def step_envs(
    prices: np.ndarray,
    features: np.ndarray,
    actions: np.ndarray,
    params: np.ndarray,
    next_start: np.ndarray,
    state: np.ndarray,
    istate: np.ndarray,
    ledger: np.ndarray,
    obs: np.ndarray,
    term_obs: np.ndarray,
    rewards: np.ndarray,
    dones: np.ndarray,
) -> None:
    """Step every env by one bar, one after the other (arguments as in ``step_range``)."""
    step_range(
        0, actions.shape[0], prices, features, actions, params, next_start, state, istate,
        ledger, obs, term_obs, rewards, dones,
    )  # fmt: skip


@njit(cache=True, error_model="numpy", parallel=True)
def step_envs_parallel(
    prices: np.ndarray,
    features: np.ndarray,
    actions: np.ndarray,
    params: np.ndarray,
    next_start: np.ndarray,
    state: np.ndarray,
    istate: np.ndarray,
    ledger: np.ndarray,
    obs: np.ndarray,
    term_obs: np.ndarray,
    rewards: np.ndarray,
    dones: np.ndarray,
) -> None:
    """``step_envs`` with the envs spread over numba's threads (results are identical:
    each env is computed by the same scalar code, no reductions across envs)."""
    n_envs = actions.shape[0]
    chunk = (n_envs + PARALLEL_CHUNKS - 1) // PARALLEL_CHUNKS
    for c in prange(PARALLEL_CHUNKS):
        step_range(
            c * chunk, min(n_envs, (c + 1) * chunk), prices, features, actions, params,
            next_start, state, istate, ledger, obs, term_obs, rewards, dones,
        )  # fmt: skip
