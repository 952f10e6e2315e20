"""The trade engine: pure, compiled functions over packed arrays with a leading env axis.

One engine serves the gymnasium env (N = 1), the SB3 VecEnv (N envs) and the backtest, so
fills, fees and stops cannot disagree. The functions have no I/O, no globals and no
randomness: every input is an argument (episode start rows are drawn by the caller) and
results are written into caller-owned buffers (no allocation per step). Arrays are laid out
as in ``btcrl.env.layout``; bars (``prices``) are float64 (T, 5) open/high/low/close and the
open time in UTC epoch seconds (the decision clock; ``check_feature_set`` adds it), features
float32 (T, F). Each env is computed by the same scalar code without fastmath, so an env gives
bit-identical results whether it is stepped alone or among N.

Order of events in the bar ``b = t + 1`` that one step fills and marks (O, H, L, C its
prices, ``s`` the slippage fraction):

1. **Resting stop at a gapped open.** If the carried position's stop is already through at
   the open (long: ``O <= stop``, short: ``O >= stop``) it fills at ``O`` (with slippage);
   the agent's order for this bar is then dropped (it was sized for a book that no longer
   exists; the agent decides again at the next bar).
2. **The agent's order at the open** (on decision bars only: the episode's first step, and
   for ``decision_interval`` k every bar whose open time starts a new k-bar period of the
   UTC clock; in between no order is placed). Equity at the open ``E = cash + position x
   O``; target ``a_pos x m x leverage_limit x E / O`` BTC (``a_pos`` clipped to [-1, 1], to
   [0, 1] without shorts; ``m`` the vol-targeting multiplier ``min(max_leverage,
   target_volatility / realised vol)`` from closes up to row t, 1 when off), capped at
   +-``max_position_btc`` (no cap by default). No trade when ``|target - position| x O <
   exposure_deadzone x leverage_limit x E``, when ``E <= 0``, or until the wanted change has
   kept its sign for ``hysteresis_bars`` bars. The fill price is ``O x (1 + s)`` buying,
   ``O x (1 - s)`` selling; fee ``fee_rate x |qty| x price``. Opening or flipping sets the
   entry to the fill price and the stop at ``pct`` below (long) / above (short) it, ``pct =
   min_stop_pct + (a_sl + 1) / 2 x (max_stop_pct - min_stop_pct)``. Adding to a position
   averages the entry and keeps the stop; reducing keeps both; closing clears both (0).
   In the residual action mode (``env.action_mode: residual``) the clipped ``a_pos`` moves
   the prior instead: target ``clip(prior_t + residual_limit x a_pos, lo, 1)`` with the
   observed prior exposure of row t (``lo`` = -1 with shorts, else 0), and the stop is the
   rules' (``RULE_STOP_PCT``), so ``a_pos`` 0 trades the ``trend_voltarget`` rule exactly.
3. **Intra-bar stop.** Long: ``L <= stop``; short: ``H >= stop``: fills at the stop (at the
   open if the open was already through it, which only a just-opened position with a stop
   inside the slippage can see), with slippage and fee. At most one stop fill per bar.
4. **Carry and mark.** The book held to the close pays ``borrow_rate_annual /
   bars_per_year`` on what it borrows (a short's value ``|position| x C``, a leveraged
   long's negative cash); then ``equity = cash + position x C``.
5. **End.** Bankruptcy (equity <= 0) terminates; reaching the episode's last bar truncates.
6. **Forced close** (``force_close_at_end``): on the bar that ends the episode, an open
   position is closed at ``C`` with slippage and fee; equity is then the cash.
7. **Reward** from the equity before and after the step (``btcrl.env.rewards``) minus the
   shaping terms (churn, smoothness, drawdown; 0 by default), times ``reward_scale``.

The next observation is row ``b``: ``[cash / initial_balance, *features[b], position /
max_position_btc]`` (without a cap: ``position x C / equity``; float32; ``env.window`` W > 1:
rows ``b - W + 1 .. b``), or with
``observation_account: scale_free`` ``[cash / equity, *features[b], position x C / equity]``.
There is no margin call beyond bankruptcy.

The kernel is split into small ``inline="always"`` functions (``_open_bar``, ``_close_bar``,
``_reward`` here; fills, stops, sizing, carry and the ledger row in ``btcrl.env.orders``), which
numba fuses back into one loop body; ``tests/env/test_engine_bitidentical.py`` keeps it
bit-identical to the pre-split kernel with the newer options off.
"""

import math

import numpy as np
from numba import njit, prange

from btcrl.env.layout import (
    CASH,
    DSR_A,
    DSR_B,
    END,
    ENTRY,
    EP_RETURN,
    EQUITY,
    L_BAR,
    L_CLOSE_FEE,
    L_CLOSE_PRICE,
    L_CLOSE_QTY,
    L_CLOSE_REF,
    L_FORCED,
    L_STOP_FEE,
    L_STOP_HIT,
    L_STOP_PRICE,
    L_STOP_QTY,
    L_STOP_REF,
    N_LEDGER,
    P_AUTO_RESET,
    P_EPISODE_STEPS,
    P_FORCE_CLOSE,
    P_INITIAL_BALANCE,
    P_MAX_POSITION,
    P_OBS_ACCOUNT,
    P_REWARD_SCALE,
    PEAK,
    POSITION,
    PREV_TARGET,
    ROW,
    STEPS,
    STOP,
    STREAK,
)
from btcrl.env.orders import (
    agent_order,
    agent_target,
    borrow_cost,
    close_out,
    record_step,
    stop_through,
    vol_scale,
)
from btcrl.env.rewards import compute_reward, prior_step_return, shaping, uses_prior

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
    price: float = math.nan,
) -> None:
    """Write ``[account_0, *features[row - W + 1], ..., *features[row], account_1]`` into
    ``out[i]``, rows copied straight from ``features``; the buffer's width sets the window
    ``W = (out.shape[1] - 2) / F`` (``env.window``; episodes start at ``first_valid + W - 1``).
    Legacy: ``cash / initial_balance`` and ``position / max_position_btc`` (without a cap,
    ``max_position_btc`` null: the exposure ``position x price / equity``); scale-free:
    ``cash / equity`` and ``position x price / equity``, ``equity = cash + position x price``
    (``price`` the row's close, needed when the position is open; both 0 when equity <= 0)."""
    n_features = features.shape[1]
    window = (out.shape[1] - 2) // n_features
    first = row + 1 - window
    for j in range(window):
        base = 1 + j * n_features
        for k in range(n_features):
            out[i, base + k] = features[first + j, k]
    tail = 1 + window * n_features
    legacy = params[P_OBS_ACCOUNT] == 0.0
    if legacy:
        out[i, 0] = cash / params[P_INITIAL_BALANCE]
        if params[P_MAX_POSITION] != math.inf:
            out[i, tail] = position / params[P_MAX_POSITION]
            return
    value = position * price if position != 0.0 else 0.0
    equity = cash + value
    if not legacy:
        out[i, 0] = cash / equity if equity > 0.0 else 0.0
    out[i, tail] = value / equity if equity > 0.0 else 0.0


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
    for k in range(state.shape[1]):
        state[i, k] = 0.0
    state[i, CASH] = balance
    state[i, EQUITY] = balance
    state[i, PEAK] = balance
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
def _open_bar(
    i: int, bar: int, prices: np.ndarray, actions: np.ndarray, params: np.ndarray,
    state: np.ndarray, istate: np.ndarray, ledger: np.ndarray, features: np.ndarray,
) -> tuple[float, float, float, float, float, float, float, float, float, float]:  # fmt: skip
    """Events 1-2 at the open of ``bar``: a gapped carried stop, else the agent's order.
    Returns (cash, position, entry, stop, streak, target, fees, slippage, notional,
    vol scale)."""
    p_open = prices[bar, 0]
    cash = state[i, CASH]
    pos = state[i, POSITION]
    entry = state[i, ENTRY]
    stop = state[i, STOP]
    streak = state[i, STREAK]
    decides, a_pos, a_sl = agent_target(
        actions, i, istate[i, STEPS], state[i, PREV_TARGET], params, prices, bar, features
    )
    scale_vol = vol_scale(prices, bar - 1, params) if decides else 1.0
    if stop_through(pos, stop, p_open, p_open):  # the order is dropped
        d_cash, fee, slip_usd = close_out(
            pos, p_open, params, ledger, i, L_STOP_PRICE, L_STOP_QTY, L_STOP_FEE
        )
        ledger[i, L_STOP_HIT] = 1.0
        ledger[i, L_STOP_REF] = p_open
        return cash + d_cash, 0.0, 0.0, 0.0, 0.0, a_pos, fee, slip_usd, 0.0, scale_vol
    fees = 0.0
    slippage = 0.0
    notional = 0.0
    if decides and cash + pos * p_open > 0.0:
        cash, pos, entry, stop, streak, fees, slippage, notional = agent_order(
            a_pos, a_sl, scale_vol, p_open, cash, pos, entry, stop, streak, params, ledger, i
        )
    return cash, pos, entry, stop, streak, a_pos, fees, slippage, notional, scale_vol


@njit(cache=True, error_model="numpy", inline="always")
def _close_bar(
    i: int, bar: int, prices: np.ndarray, params: np.ndarray, istate: np.ndarray,
    ledger: np.ndarray, cash: float, pos: float, entry: float, stop: float, fees: float,
    slippage: float,
) -> tuple[float, float, float, float, float, float, float, float, bool, bool]:  # fmt: skip
    """Events 3-6 of ``bar`` after the open: the intra-bar stop, the bar's carry, the mark,
    the end of the episode and the forced close. ``fees`` / ``slippage`` (USD) run on from
    the open. Returns (cash, position, entry, stop, equity, fees, slippage, borrow,
    bankrupt, done)."""
    p_open = prices[bar, 0]
    p_close = prices[bar, 3]
    if stop_through(pos, stop, prices[bar, 2], prices[bar, 1]):
        reference = p_open if stop_through(pos, stop, p_open, p_open) else stop
        d_cash, fee, slip_usd = close_out(
            pos, reference, params, ledger, i, L_STOP_PRICE, L_STOP_QTY, L_STOP_FEE
        )
        ledger[i, L_STOP_REF] = reference
        cash += d_cash
        fees += fee
        slippage += slip_usd
        ledger[i, L_STOP_HIT] = 1.0
        pos = 0.0
        entry = 0.0
        stop = 0.0
    borrow = borrow_cost(cash, pos, p_close, params)
    if borrow != 0.0:
        cash -= borrow
    equity = cash + pos * p_close
    bankrupt = equity <= 0.0
    done = bankrupt or bar >= istate[i, END]
    if done and pos != 0.0 and params[P_FORCE_CLOSE] != 0.0:
        d_cash, fee, slip_usd = close_out(
            pos, p_close, params, ledger, i, L_CLOSE_PRICE, L_CLOSE_QTY, L_CLOSE_FEE
        )
        ledger[i, L_CLOSE_REF] = p_close
        cash += d_cash
        fees += fee
        slippage += slip_usd
        ledger[i, L_FORCED] = 1.0
        pos = 0.0
        entry = 0.0
        stop = 0.0
        equity = cash
        bankrupt = equity <= 0.0
    return cash, pos, entry, stop, equity, fees, slippage, borrow, bankrupt, done


@njit(cache=True, error_model="numpy", inline="always")
def _reward(
    i: int, state: np.ndarray, params: np.ndarray, equity: float, notional: float,
    target: float, prices: np.ndarray, features: np.ndarray, bar: int,
) -> tuple[float, float, float, float]:  # fmt: skip
    """Event 7: the registered reward minus the shaping terms, times ``reward_scale``.
    Returns (reward, dsr_a, dsr_b, peak)."""
    equity_prev = state[i, EQUITY]
    prior_return = prior_step_return(prices, features, bar, params) if uses_prior(params) else 0.0
    reward, dsr_a, dsr_b = compute_reward(
        equity_prev, equity, state[i, DSR_A], state[i, DSR_B], params, prior_return
    )
    peak = max(state[i, PEAK], equity)
    penalty = shaping(notional, equity_prev, target, state[i, PREV_TARGET], equity, peak, params)
    if penalty != 0.0:
        reward -= penalty
    return reward * params[P_REWARD_SCALE], dsr_a, dsr_b, peak


@njit(cache=True, error_model="numpy", inline="always")
def _step_env(
    i: int, prices: np.ndarray, features: np.ndarray, actions: np.ndarray,
    params: np.ndarray, next_start: np.ndarray, state: np.ndarray, istate: np.ndarray,
    ledger: np.ndarray, obs: np.ndarray, term_obs: np.ndarray, rewards: np.ndarray,
    dones: np.ndarray,
) -> None:  # fmt: skip
    """Step env ``i`` by one bar (events 1-7 of the module docstring), then write its
    observation, or its final observation and reset when the episode ended (auto-reset)."""
    bar = istate[i, ROW] + 1
    for k in range(N_LEDGER):
        ledger[i, k] = 0.0
    ledger[i, L_BAR] = bar
    cash, pos, entry, stop, streak, target, fees, slippage, notional, scale_vol = _open_bar(
        i, bar, prices, actions, params, state, istate, ledger, features
    )
    cash, pos, entry, stop, equity, fees, slippage, borrow, bankrupt, done = _close_bar(
        i, bar, prices, params, istate, ledger, cash, pos, entry, stop, fees, slippage
    )
    reward, dsr_a, dsr_b, peak = _reward(
        i, state, params, equity, notional, target, prices, features, bar
    )
    ep_return = state[i, EP_RETURN] + reward
    steps = istate[i, STEPS] + 1
    record_step(
        i, ledger, cash, pos, entry, stop, equity, fees, slippage, borrow, bankrupt, done,
        reward, ep_return, steps, target, scale_vol,
    )  # fmt: skip
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
    state[i, PEAK] = peak
    state[i, PREV_TARGET] = target
    state[i, STREAK] = streak
    istate[i, ROW] = bar
    istate[i, STEPS] = steps
    if done and params[P_AUTO_RESET] != 0.0:
        write_observation(term_obs, i, features, bar, cash, pos, params, prices[bar, 3])
        reset_env(i, next_start[i], features, params, state, istate, obs)
    else:
        write_observation(obs, i, features, bar, cash, pos, params, prices[bar, 3])


# _nrt=False: the kernel allocates nothing, so numba's reference counting is switched off.
# With it on, every array handed to the inlined helpers gets atomic incref/decref pairs that
# numba's pruning cannot remove across their branches: 5x slower than the pre-split kernel.
@njit(cache=True, error_model="numpy", _nrt=False)  # type: ignore[call-overload]
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
    for i in range(lo, hi):
        _step_env(
            i, prices, features, actions, params, next_start, state, istate, ledger, obs,
            term_obs, rewards, dones,
        )  # fmt: skip


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
