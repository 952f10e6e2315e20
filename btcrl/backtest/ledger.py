"""The step ledger and the trades extracted from its fills (no second accounting).

Each row of ``steps`` is one env step: the agent saw the observation built at the close of
the previous bar (``obs_*``), its order filled at this bar's ``open`` (``fill_*``), a resting
stop may have filled inside the bar (``stop_*``), on the last bar an open position may have
been closed at the close (``close_*``, ``forced_close``), and the book (``cash``,
``position``, ``equity``) is marked at this bar's close. All values come from the env's info
dicts; this module only arranges them.

Trades are round trips of the position: a trade opens when the position leaves zero and
closes when it returns to zero; a fill that flips the sign is an exit of the old trade plus an
entry of a new one, its quantity and fee split pro rata. Adding to a position moves the
trade's average entry price; reducing it realises PnL against that average. A trade's PnL is
net of every fee paid on its fills (USD), so the PnL of all trades plus the open one equals
the change in equity.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btcrl.features.spec import FeatureSet

# fills of one bar, in the order they happen: (kind, qty field, price field, fee field)
FILL_KINDS = (
    ("signal", "fill_qty", "fill_price", "fill_fee"),
    ("stop", "stop_fill_qty", "stop_fill_price", "stop_fee"),
    ("forced_close", "close_fill_qty", "close_fill_price", "close_fee"),
)
INFO_FIELDS = (
    "fill_price",
    "fill_qty",
    "fill_fee",
    "stop_hit",
    "stop_fill_price",
    "stop_fill_qty",
    "stop_fee",
    "forced_close",
    "close_fill_price",
    "close_fill_qty",
    "close_fee",
    "fee",
    "slippage_cost",
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
    "pnl_usd",
    "pnl_pct",
    "fees",
    "duration_bars",
    "exit_reason",
    "stop_hit",
    "forced_close",
    "open",
)
_EPS = 1e-12


def collect_steps(
    features: FeatureSet,
    observations: np.ndarray,
    actions: np.ndarray,
    ledger: np.ndarray,
    ledger_fields: Sequence[str],
) -> pd.DataFrame:
    """Arrange one episode into the ``steps`` frame, one row per step.

    ``ledger`` (steps, len(ledger_fields)) holds the env's ledger row after each step (the
    values of its ``info`` dicts); its ``bar`` column names the feature-set row the step
    filled and marked at, whose time, OHLC and volume are copied. ``observations`` (steps,
    obs) are what the agent saw before acting and ``actions`` (steps, 2) what it did. Fees,
    slippage and book values are USD, quantities BTC. A ledger without per-fill fees
    (``fill_fee`` ...) gets them as each fill's share of the bar's ``fee`` by notional.
    """
    led = np.asarray(ledger, dtype=np.float64)
    n = led.shape[0]
    if not (len(observations) == len(actions) == n):
        raise ValueError("steps need one observation and one action per ledger row")
    names = list(ledger_fields)
    bars = led[:, names.index("bar")].astype(np.int64)
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
    for j, name in enumerate(features.spec.observation_names):
        columns[f"obs_{name}"] = obs[:, j]
    act = np.asarray(actions, dtype=np.float64)
    columns["a_pos"] = act[:, 0]
    columns["a_sl"] = act[:, 1]
    for name in INFO_FIELDS:
        if name in names:
            columns[name] = led[:, names.index(name)]
    if "fill_fee" not in names:
        _apportion_fees(columns)
    columns["done"] = np.arange(n) == n - 1
    frame = pd.DataFrame(columns, index=index)
    for name in BOOL_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype(bool)
    return frame


def _apportion_fees(columns: dict[str, np.ndarray]) -> None:
    """Split each bar's ``fee`` over its fills by notional (fee is proportional to it)."""
    notionals = []
    for _kind, qty, price, _fee in FILL_KINDS:
        q = columns.get(qty, np.zeros_like(columns["fee"]))
        p = columns.get(price, np.zeros_like(columns["fee"]))
        notionals.append(np.abs(q * p))
    total = np.sum(notionals, axis=0)
    safe = np.where(total > 0, total, 1.0)
    for (_kind, _qty, _price, fee), notional in zip(FILL_KINDS, notionals, strict=True):
        columns[fee] = np.where(total > 0, columns["fee"] * notional / safe, 0.0)


@dataclass
class _OpenTrade:
    side: int
    entry_time: pd.Timestamp
    entry_bar: int
    entry_qty: float = 0.0
    entry_value: float = 0.0
    avg_entry: float = 0.0
    position: float = 0.0
    exit_qty: float = 0.0
    exit_value: float = 0.0
    realised: float = 0.0
    fees: float = 0.0
    kinds: list[str] = field(default_factory=list)

    def add(self, qty: float, price: float, fee: float) -> None:
        self.entry_qty += abs(qty)
        self.entry_value += abs(qty) * price
        # average entry of the *open* position (what the engine's entry_price tracks)
        held = abs(self.position)
        self.avg_entry = (self.avg_entry * held + abs(qty) * price) / (held + abs(qty))
        self.position += qty
        self.fees += fee

    def reduce(self, qty: float, price: float, fee: float) -> None:
        self.exit_qty += abs(qty)
        self.exit_value += abs(qty) * price
        self.realised += -qty * (price - self.avg_entry)
        self.position += qty
        self.fees += fee


def extract_trades(steps: pd.DataFrame) -> pd.DataFrame:
    """Round-trip trades from the fills in ``steps`` (see the module docstring).

    Columns: ``TRADE_COLUMNS``. Prices USD (volume-weighted over the trade's entry or exit
    fills), ``size_btc`` total BTC entered, ``entry_notional`` USD, ``pnl_usd`` net of fees,
    ``pnl_pct`` = pnl_usd / entry_notional (fraction), ``entry_bar`` / ``exit_bar`` the
    feature-set rows (the steps' ``bar``) of the first and last fill, ``duration_bars`` the bars the
    position was held in (an exit at a bar's open does not count that bar), ``exit_reason``
    signal | flip | stop | forced_close | open. A trade still open after the last step is
    reported with ``open=True``, marked at the last close (its PnL unrealised).
    """
    trades: list[dict[str, Any]] = []
    current: _OpenTrade | None = None
    times = steps.index
    bars = steps["bar"].to_numpy(np.int64) if "bar" in steps else np.arange(len(steps))
    zero = np.zeros(len(steps))
    cols = {
        name: steps[name].to_numpy(np.float64) if name in steps else zero
        for _k, *names in FILL_KINDS
        for name in names
    }
    for i in range(len(steps)):
        for kind, qty_name, price_name, fee_name in FILL_KINDS:
            qty = cols[qty_name][i]
            if qty == 0.0:
                continue
            price, fee = cols[price_name][i], cols[fee_name][i]
            remaining, fee_left = qty, fee
            if current is not None and np.sign(qty) != current.side:
                closing = min(abs(qty), abs(current.position))
                part = closing / abs(qty)
                current.reduce(np.sign(qty) * closing, price, fee * part)
                remaining, fee_left = qty - np.sign(qty) * closing, fee * (1.0 - part)
                if abs(current.position) <= _EPS * max(1.0, current.entry_qty):
                    reason = "flip" if abs(remaining) > _EPS else kind
                    trades.append(_closed(current, times[i], bars[i], reason, kind != "signal"))
                    current = None
                if abs(remaining) <= _EPS * max(1.0, abs(qty)):
                    continue
            if current is None:
                current = _OpenTrade(
                    side=int(np.sign(remaining)), entry_time=times[i], entry_bar=int(bars[i])
                )
            current.add(remaining, price, fee_left)
    if current is not None and len(steps):
        last = len(steps) - 1
        close = float(steps["close"].iloc[last])
        unrealised = current.position * (close - current.avg_entry)
        row = _closed(current, times[last], int(bars[last]), "open", True)
        row["exit_price"] = close
        row["pnl_usd"] = current.realised + unrealised - current.fees
        row["pnl_pct"] = row["pnl_usd"] / current.entry_value if current.entry_value else 0.0
        row["open"] = True
        trades.append(row)
    frame = pd.DataFrame(trades, columns=list(TRADE_COLUMNS))
    frame["trade"] = np.arange(len(frame), dtype=np.int64)
    return frame


def _closed(
    trade: _OpenTrade, time: pd.Timestamp, bar: int, reason: str, held_this_bar: bool
) -> dict[str, Any]:
    pnl = trade.realised - trade.fees
    return {
        "side": "long" if trade.side > 0 else "short",
        "entry_time": trade.entry_time,
        "exit_time": time,
        "entry_bar": trade.entry_bar,
        "exit_bar": bar,
        "entry_price": trade.entry_value / trade.entry_qty,
        "exit_price": trade.exit_value / trade.exit_qty if trade.exit_qty else float("nan"),
        "size_btc": trade.entry_qty,
        "entry_notional": trade.entry_value,
        "pnl_usd": pnl,
        "pnl_pct": pnl / trade.entry_value if trade.entry_value else 0.0,
        "fees": trade.fees,
        "duration_bars": bar - trade.entry_bar + (1 if held_this_bar else 0),
        "exit_reason": reason,
        "stop_hit": reason == "stop",
        "forced_close": reason == "forced_close",
        "open": False,
    }
