"""Column layout of the engine's packed arrays (state, episode counters, params, ledger).

The engine keeps everything per env in a few packed 2-D arrays with the env on the leading
axis, so that one compiled call steps N envs with a handful of arguments. These constants
name the columns; they are compile-time constants inside the numba kernels.
"""

# --- float64 bars, shape (T, N_BAR): the prices fills use, and the decision clock ---------
BAR_OPEN = 0
BAR_HIGH = 1
BAR_LOW = 2
BAR_CLOSE = 3
BAR_TIME = 4  # bar open time, UTC epoch seconds (exact in float64); read with decision_interval
N_BAR = 5

# --- float64 state, shape (N, N_STATE) -------------------------------------------------
CASH = 0  # quote currency (USD); negative when leveraged long
POSITION = 1  # BTC, signed (negative = short)
ENTRY = 2  # average entry price of the open position, USD; 0 when flat
STOP = 3  # resting stop price, USD; 0 when flat
EQUITY = 4  # cash + position x close of the current row, USD
DSR_A = 5  # differential Sharpe: EMA of returns
DSR_B = 6  # differential Sharpe: EMA of squared returns
EP_RETURN = 7  # sum of rewards in the current episode
PEAK = 8  # running peak of the episode's equity (incl. initial_balance), USD
PREV_TARGET = 9  # target exposure of the previous step, fraction in [-1, 1]
STREAK = 10  # hysteresis: signed count of consecutive bars the wanted change kept its sign
N_STATE = 11

# --- int64 episode counters, shape (N, N_ISTATE) ---------------------------------------
ROW = 0  # current row t (the observation is built from it)
END = 1  # last bar of the episode (the row the last step marks at)
STEPS = 2  # steps taken in the current episode
N_ISTATE = 3

# --- float64 parameters, shape (N_PARAMS,) ---------------------------------------------
P_INITIAL_BALANCE = 0
P_LEVERAGE = 1
P_MAX_POSITION = 2
P_DEADZONE = 3
P_FEE_RATE = 4
P_SLIPPAGE = 5  # fraction (bps / 1e4)
P_MIN_STOP = 6
P_MAX_STOP = 7
P_ALLOW_SHORT = 8  # 0 or 1
P_REWARD_ID = 9
P_DOWNSIDE_WEIGHT = 10
P_DSR_ETA = 11
P_REWARD_SCALE = 12
P_FORCE_CLOSE = 13  # 0 or 1
P_EPISODE_STEPS = 14  # steps per episode (END = start + this)
P_AUTO_RESET = 15  # 0 or 1: a finished env starts its next episode inside the step
P_CHURN_PENALTY = 16  # reward weight on traded notional / equity
P_SMOOTH_PENALTY = 17  # reward weight on (change of target exposure)^2
P_DRAWDOWN_PENALTY = 18  # reward weight on the drawdown from the episode's peak
P_TARGET_VOL = 19  # annualised volatility target; 0 = vol targeting off
P_VOL_WINDOW = 20  # bars of close-to-close log returns in the realised volatility
P_MAX_LEVERAGE = 21  # cap on the vol-targeting multiplier
P_VOL_FLOOR = 22  # annualised floor on the realised volatility
P_BARS_PER_YEAR = 23  # bars per year of the feature set's timeframe (8760 for 1h)
P_BORROW_RATE = 24  # annual borrow / funding rate on shorts and borrowed cash, fraction
P_HYSTERESIS = 25  # bars the sign of the wanted change must hold before a trade (1 = off)
P_DECISION_INTERVAL = 26  # decisions every this many bars of clock time (1 = every bar)
P_OBS_ACCOUNT = 27  # 0 = legacy account observation, 1 = scale-free
P_FIRST_ROW = 28  # first row of price history (realised vol reads no row before it)
P_N_LEVELS = 29  # discrete action mode: number of target levels (0 = continuous targets)
P_LEVELS = 30  # the levels, ascending, in P_LEVELS .. P_LEVELS + P_N_LEVELS - 1
MAX_ACTION_LEVELS = 9
P_BAR_SECONDS = P_LEVELS + MAX_ACTION_LEVELS  # seconds per bar (the decision clock's unit)
# residual action mode (issue 21): target = clip(prior_t + residual_limit x a_pos, lo, 1)
P_ACTION_MODE = P_BAR_SECONDS + 1  # 0 = absolute, 1 = residual
P_RESIDUAL_LIMIT = P_ACTION_MODE + 1  # most the agent moves the target off the prior
P_PRIOR_COL = P_ACTION_MODE + 2  # feature column of the prior's exposure (-1 = none)
N_PARAMS = P_PRIOR_COL + 1
# The rules' stop (fraction below a long's entry; btcrl.policy.policies): never reached in
# practice. The residual action mode trades with it too, so that action 0 is the prior's rule.
RULE_STOP_PCT = 0.99

# --- float64 ledger of the last step, shape (N, N_LEDGER) ------------------------------
# Every fill of a bar is here with its price, signed quantity and fee; state columns hold
# the book after the step (before any auto-reset).
LEDGER_FIELDS = (
    "bar",  # row t+1, the bar the step filled and marked at
    "fill_price",  # agent order at the open, incl. slippage; 0 if no order filled
    "fill_qty",  # signed BTC bought (+) / sold (-) by the agent order
    "fill_fee",  # USD fee of the agent order
    "stop_hit",  # 1 if the stop filled in this bar
    "stop_fill_price",  # incl. slippage; 0 if no stop fill
    "stop_fill_qty",  # signed BTC of the stop fill
    "stop_fee",  # USD
    "forced_close",  # 1 if the position was closed at the episode's last close
    "close_fill_price",  # forced close price incl. slippage; 0 if none
    "close_fill_qty",  # signed BTC of the forced close
    "close_fee",  # USD
    "fee",  # USD, all fees paid in this bar
    "slippage_cost",  # USD, all slippage paid in this bar (vs. the unslipped reference)
    "cash",
    "position",
    "entry_price",
    "stop_price",
    "equity",
    "bankrupt",  # 1 if equity <= 0 at the close
    "reward",
    "terminated",  # 1 on bankruptcy
    "truncated",  # 1 when the episode ran out of bars
    "episode_return",  # sum of rewards of the episode so far (incl. this step)
    "episode_steps",  # steps of the episode so far (incl. this step)
    "borrow_cost",  # USD, borrow / funding charged on the book held to this bar's close
    "target_exposure",  # the agent's target, fraction of leverage x equity in [-1, 1]
    "vol_scale",  # vol-targeting multiplier on the target (1 when off)
    "fill_ref",  # reference price of the agent order (the open, before slippage); 0 if none
    "stop_fill_ref",  # the stop's reference (stop level, or the open when gapped); 0 if none
    "close_fill_ref",  # the forced close's reference (the last close); 0 if none
)
(
    L_BAR,
    L_FILL_PRICE,
    L_FILL_QTY,
    L_FILL_FEE,
    L_STOP_HIT,
    L_STOP_PRICE,
    L_STOP_QTY,
    L_STOP_FEE,
    L_FORCED,
    L_CLOSE_PRICE,
    L_CLOSE_QTY,
    L_CLOSE_FEE,
    L_FEE,
    L_SLIPPAGE,
    L_CASH,
    L_POSITION,
    L_ENTRY,
    L_STOP,
    L_EQUITY,
    L_BANKRUPT,
    L_REWARD,
    L_TERMINATED,
    L_TRUNCATED,
    L_EP_RETURN,
    L_EP_STEPS,
    L_BORROW,
    L_TARGET,
    L_VOL_SCALE,
    L_FILL_REF,
    L_STOP_REF,
    L_CLOSE_REF,
) = range(len(LEDGER_FIELDS))
N_LEDGER = len(LEDGER_FIELDS)

# ledger fields reported as int / bool in info dicts
INT_FIELDS = frozenset({"bar", "episode_steps"})
BOOL_FIELDS = frozenset({"stop_hit", "forced_close", "bankrupt", "terminated", "truncated"})
