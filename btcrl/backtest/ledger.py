"""The step ledger and the trades (round trips) extracted from its fills, on arrays.

Each row of ``steps`` is one env step: the agent saw the observation built at the close of
the previous bar (``obs_*``), its order filled at this bar's ``open`` (``fill_*``), a resting
stop may have filled inside the bar (``stop_*``), on the last bar an open position may have
been closed at the close (``close_*``, ``forced_close``), and the book (``cash``,
``position``, ``equity``) is marked at this bar's close. Every fill carries its paid price
and its reference price before slippage (``*_ref``). All values come from the env's ledger;
this module only arranges them.

A trade is one round trip of the position (``btcrl.metrics.trades``): it opens when
the position leaves zero and closes when it returns to zero; a fill that flips the sign is
an exit of the old trade plus an entry of the new one, its quantity and fee split pro rata.
A trade's PnL is net of every fee paid on its fills (USD), so the PnL of all trades plus the
open one equals the change in equity.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from btcrl.features.spec import FeatureSet
from btcrl.metrics.trades import KIND_NAMES, SIGNAL, Fills, fill_sequence

INFO_FIELDS = (
    "fill_price",
    "fill_ref",
    "fill_qty",
    "fill_fee",
    "stop_hit",
    "stop_fill_price",
    "stop_fill_ref",
    "stop_fill_qty",
    "stop_fee",
    "forced_close",
    "close_fill_price",
    "close_fill_ref",
    "close_fill_qty",
    "close_fee",
    "fee",
    "slippage_cost",
    "borrow_cost",
    "target_exposure",
    "vol_scale",
    "cash",
    "position",
    "entry_price",
    "stop_price",
    "equity",
    "bankrupt",
    "reward",
)
BOOL_COLUMNS = ("stop_hit", "forced_close", "bankrupt", "done")
TRADE_COLUMNS = (
    "trade",
    "side",
    "entry_time",
    "exit_time",
    "entry_bar",
    "exit_bar",
    "entry_price",
    "exit_price",
    "size_btc",
    "entry_notional",
    "fills",
    "pnl_usd",
    "pnl_pct",
    "fees",
    "duration_bars",
    "exit_reason",
    "stop_hit",
    "forced_close",
    "open",
)


def ledger_columns(ledger: np.ndarray, ledger_fields: Sequence[str]) -> dict[str, np.ndarray]:
    """The env's ledger rows (steps, len(ledger_fields)) as one float64 array per field."""
    led = np.asarray(ledger, dtype=np.float64)
    return {name: led[:, j] for j, name in enumerate(ledger_fields)}


def collect_steps(
    features: FeatureSet,
    observations: np.ndarray,
    actions: np.ndarray,
    ledger: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Arrange one episode into the ``steps`` frame, one row per step.

    ``ledger`` (field -> per-step array, :func:`ledger_columns`) holds the env's ledger after
    each step; its ``bar`` column names the feature-set row the step filled and marked at,
    whose time, OHLC and volume are copied. ``observations`` (steps, obs) are what the agent
    saw before acting and ``actions`` (steps, 2) what it did. Fees, slippage and book values
    are USD, quantities BTC.
    """
    bars = np.asarray(ledger["bar"]).astype(np.int64)
    n = bars.size
    if not (len(observations) == len(actions) == n):
        raise ValueError("steps need one observation and one action per ledger row")
    index = pd.DatetimeIndex(pd.to_datetime(features.times[bars], utc=True), name="time")
    prices = features.prices[bars]
    columns: dict[str, np.ndarray] = {
        "step": np.arange(n, dtype=np.int64),
        "bar": bars,
        "open": prices[:, 0],
        "high": prices[:, 1],
        "low": prices[:, 2],
        "close": prices[:, 3],
        "volume": np.asarray(features.volume[bars], dtype=np.float64),
    }
    obs = np.asarray(observations, dtype=np.float64)
    # a windowed observation (env.window W) holds W feature rows: keep the newest (row t)
    skip = obs.shape[1] - features.spec.observation_size if obs.ndim == 2 else 0
    for j, name in enumerate(features.spec.observation_names):
        columns[f"obs_{name}"] = obs[:, j + skip if j > 0 else 0]
    act = np.asarray(actions, dtype=np.float64)
    columns["a_pos"] = act[:, 0]
    columns["a_sl"] = act[:, 1]
    columns.update({name: ledger[name] for name in INFO_FIELDS if name in ledger})
    columns["done"] = np.arange(n) == n - 1
    frame = pd.DataFrame(columns, index=index)
    for name in BOOL_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype(bool)
    return frame


def _split(fills: Fills) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per fill: BTC entered, BTC exited, and the trade each part belongs to."""
    before, after = np.abs(fills.before), np.abs(fills.after)
    opening, closing = fills.opening, fills.closing
    size = np.abs(fills.qty)
    entered = np.where(opening, after, np.where(after > before, size, 0.0))
    exited = np.where(closing, before, np.where(after < before, size, 0.0))
    opened = np.cumsum(opening) - 1  # the trade the position is in after the fill
    return entered, exited, opened, opened - opening.astype(np.int64)


def _totals(fills: Fills, n: int) -> dict[str, np.ndarray]:
    """Per trade: BTC and USD entered and exited, fees (a flip's split pro rata by
    quantity), fills that touched it, and the largest position held."""
    entered, exited, opened, left = _split(fills)
    into, out = entered > 0, exited > 0
    share = entered / np.maximum(entered + exited, np.finfo(float).tiny)
    size = np.zeros(n)
    held = fills.after != 0
    np.maximum.at(size, opened[held], np.abs(fills.after[held]))
    return {
        "entry_qty": np.bincount(opened[into], entered[into], n),
        "entry_value": np.bincount(opened[into], (entered * fills.price)[into], n),
        "exit_qty": np.bincount(left[out], exited[out], n),
        "exit_value": np.bincount(left[out], (exited * fills.price)[out], n),
        "fees": np.bincount(opened[into], (fills.fee * share)[into], n)
        + np.bincount(left[out], (fills.fee * (1.0 - share))[out], n),
        "fills": np.bincount(opened[into], minlength=n) + np.bincount(left[out], minlength=n),
        "size": size,
    }


def _exits(fills: Fills, n: int, last_step: int) -> dict[str, np.ndarray]:
    """Per trade: the step it ended at, why, and whether its exit bar was held; the open
    trade (no closing fill) ends at ``last_step`` with reason ``open``."""
    last = np.flatnonzero(fills.closing)  # trade k closes at the k-th closing fill
    closed = len(last)
    step = np.full(n, last_step)
    step[:closed] = fills.step[last]
    reason = np.full(n, "open", dtype=object)
    kinds = np.asarray(KIND_NAMES, dtype=object)[fills.kind[last]]
    reason[:closed] = np.where(fills.opening[last], "flip", kinds)
    held = np.ones(n, np.int64)  # a stop or close fills inside / at the end of its bar
    held[:closed] = fills.kind[last] != SIGNAL
    is_open = np.arange(n) >= closed
    return {"step": step, "reason": reason, "held": held, "open": is_open}


def extract_trades(
    ledger: Mapping[str, np.ndarray], times: pd.DatetimeIndex, close: np.ndarray
) -> pd.DataFrame:
    """One row per round trip from the fills of ``ledger`` (see the module docstring).

    ``ledger``: per-step arrays (``bar``, ``position`` and the fill columns), ``times`` and
    ``close`` the steps' bar open times and closes. Columns ``TRADE_COLUMNS``: prices USD
    (volume-weighted over the trade's entry or exit fills), ``size_btc`` the largest position
    held (BTC, not the sum of adds), ``entry_notional`` = size_btc x entry_price (USD),
    ``fills`` the fills that touched the trade (a flip counts in both trades), ``pnl_usd`` net
    of fees, ``pnl_pct`` = pnl_usd / entry_notional (fraction), ``entry_bar`` / ``exit_bar``
    the feature-set rows of the first and last fill, ``duration_bars`` the bars the position
    was held in (an exit at a bar's open does not count that bar), ``exit_reason`` signal |
    flip | stop | forced_close | open. A trade still open after the last step has
    ``open=True`` and is marked at the last close (its PnL unrealised).
    """
    fills = fill_sequence(ledger)
    n = int(fills.opening.sum())
    if n == 0:
        return pd.DataFrame(columns=list(TRADE_COLUMNS))
    bars = np.asarray(ledger["bar"]).astype(np.int64)
    tot, ends = _totals(fills, n), _exits(fills, n, len(bars) - 1)
    first = fills.step[np.flatnonzero(fills.opening)]
    side = np.sign(fills.after[fills.opening])
    final = abs(float(np.asarray(ledger["position"])[-1]))
    mark = np.where(ends["open"], final * close[-1], 0.0)
    pnl = side * (tot["exit_value"] + mark - tot["entry_value"]) - tot["fees"]
    entry_price = tot["entry_value"] / tot["entry_qty"]
    notional = tot["size"] * entry_price
    sold = tot["exit_qty"] > 0
    exit_price = np.where(sold, tot["exit_value"] / np.where(sold, tot["exit_qty"], 1.0), np.nan)
    exit_price[ends["open"]] = close[-1]
    entry_bar, exit_bar = bars[first], bars[ends["step"]]
    return pd.DataFrame(
        {
            "trade": np.arange(n, dtype=np.int64),
            "side": np.where(side > 0, "long", "short"),
            "entry_time": times[first],
            "exit_time": times[ends["step"]],
            "entry_bar": entry_bar,
            "exit_bar": exit_bar,
            "entry_price": entry_price,
            "exit_price": exit_price,
            "size_btc": tot["size"],
            "entry_notional": notional,
            "fills": tot["fills"],
            "pnl_usd": pnl,
            "pnl_pct": np.where(notional > 0, pnl / np.where(notional > 0, notional, 1.0), 0.0),
            "fees": tot["fees"],
            "duration_bars": exit_bar - entry_bar + ends["held"],
            "exit_reason": ends["reason"],
            "stop_hit": ends["reason"] == "stop",
            "forced_close": ends["reason"] == "forced_close",
            "open": ends["open"],
        }
    )
