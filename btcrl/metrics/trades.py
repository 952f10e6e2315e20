"""Trading activity from ledger arrays: fills, round trips, turnover and fees (pure numpy).

One definition for backtests (``metrics.json``, ``summary.json``, MLflow) and validation
(``val/*``), so that a number means the same everywhere (docs/backtest.md, "Trading
activity"):

- a **fill** is one executed order: the agent's order at a bar's open, a stop inside the bar
  (or at the open when the bar gaps through it), or the forced close at the last close; a
  bar has 0, 1 or 2 fills;
- a **round trip** is the position leaving zero and coming back to zero (a fill that flips
  the sign closes one round trip and opens the next); adds and partial reductions in
  between are fills of the same round trip; the one still open at the end is counted apart;
- **turnover** is the traded notional (sum of |qty x fill price| over every fill, USD) over
  the mean equity (USD): how many times the book was traded over the period;
- **fees** are the USD fees of every fill; ``fees_pct`` the same as a fraction of the initial
  balance.

The ledger arrays have one row per step (``btcrl.env.layout.LEDGER_FIELDS``); the fills of a
step are in the columns of ``FILL_KINDS``, in the order they happen within the bar.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: the fills of one step, in the order they happen: (kind, qty, price, reference, fee) fields
FILL_KINDS = (
    ("signal", "fill_qty", "fill_price", "fill_ref", "fill_fee"),
    ("stop", "stop_fill_qty", "stop_fill_price", "stop_fill_ref", "stop_fee"),
    ("forced_close", "close_fill_qty", "close_fill_price", "close_fill_ref", "close_fee"),
)
KIND_NAMES = tuple(kind for kind, *_ in FILL_KINDS)
SIGNAL = 0


@dataclass(frozen=True)
class Fills:
    """Every fill of an episode in the order it happened (one entry per fill).

    ``step`` int64 ledger row, ``kind`` index into ``KIND_NAMES``, ``qty`` signed BTC,
    ``price`` USD paid (slippage included), ``fee`` USD, ``before`` / ``after`` the position
    (BTC) just before and after the fill.
    """

    step: np.ndarray
    kind: np.ndarray
    qty: np.ndarray
    price: np.ndarray
    fee: np.ndarray
    before: np.ndarray
    after: np.ndarray

    def __len__(self) -> int:
        return int(self.step.size)

    @property
    def closing(self) -> np.ndarray:
        """Fills that end a round trip (back to zero, or through it)."""
        return (self.before != 0) & (
            (self.after == 0) | (np.sign(self.after) != np.sign(self.before))
        )

    @property
    def opening(self) -> np.ndarray:
        """Fills that start a round trip (out of zero, or through it)."""
        return (self.after != 0) & (
            (self.before == 0) | (np.sign(self.after) != np.sign(self.before))
        )


def fill_matrix(ledger: Mapping[str, np.ndarray], column: int) -> np.ndarray:
    """(steps, 3) array of one ``FILL_KINDS`` column (1 qty, 2 price, 3 reference, 4 fee) for
    the signal, stop and forced-close fills; a field missing from ``ledger`` reads as 0."""
    n = len(ledger["position"])
    return np.column_stack(
        [np.asarray(ledger.get(kind[column], np.zeros(n)), np.float64) for kind in FILL_KINDS]
    )


def fill_sequence(ledger: Mapping[str, np.ndarray]) -> Fills:
    """The fills of ``ledger`` (name -> per-step array) in order, with the position around each.

    The position after each step (``position``) is exact in the ledger, and a stop or a
    forced close always takes the position to exactly zero; so the position after an
    agent's order is the step's final position minus that step's stop and close quantities,
    with no running sum (and no rounding) over the episode.
    """
    qty = fill_matrix(ledger, 1)
    position = np.asarray(ledger["position"], np.float64)
    after = np.zeros_like(qty)
    after[:, SIGNAL] = position - qty[:, 1] - qty[:, 2]
    steps, kinds = np.nonzero(qty)  # row-major: steps in order, kinds in bar order
    after_flat = after[steps, kinds]
    before = np.concatenate([[0.0], after_flat[:-1]])
    return Fills(
        step=steps.astype(np.int64),
        kind=kinds.astype(np.int8),
        qty=qty[steps, kinds],
        price=fill_matrix(ledger, 2)[steps, kinds],
        fee=fill_matrix(ledger, 4)[steps, kinds],
        before=before,
        after=after_flat,
    )


def traded_notional(ledger: Mapping[str, np.ndarray]) -> np.ndarray:
    """|USD| filled per step (every fill at its paid price), shape (steps,)."""
    return np.abs(fill_matrix(ledger, 1) * fill_matrix(ledger, 2)).sum(axis=1)


def turnover(notional: np.ndarray, equity: np.ndarray) -> float:
    """Traded notional over mean equity (times over the period; 0 when nothing traded).

    ``notional`` |USD| per step, ``equity`` USD after each step (negative equity counts 0).
    """
    total = float(np.abs(np.asarray(notional, np.float64)).sum())
    mean_equity = float(np.mean(np.maximum(np.asarray(equity, np.float64), 0.0)))
    if total == 0.0:
        return 0.0
    return total / mean_equity if mean_equity > 0 else float("inf")


def trade_activity(ledger: Mapping[str, np.ndarray], initial_balance: float) -> dict[str, float]:
    """Fills, round trips, turnover and fees of one episode (see the module docstring).

    ``ledger``: per-step arrays by ledger field name; needs ``position``, ``equity``, ``fee``
    and the fill columns of ``FILL_KINDS`` (qty, price). Keys: ``fills``, ``round_trips``
    (closed), ``open_round_trips`` (0 or 1), ``fills_per_round_trip`` (fills / (closed +
    open) round trips, NaN without any), ``turnover`` (times), ``fees`` (USD), ``fees_pct``
    (fraction of ``initial_balance``).
    """
    fills = fill_sequence(ledger)
    position = np.asarray(ledger["position"], np.float64)
    closed = int(fills.closing.sum())
    still_open = int(position.size > 0 and position[-1] != 0)
    fees = float(np.asarray(ledger["fee"], np.float64).sum())
    trips = closed + still_open
    return {
        "fills": float(len(fills)),
        "round_trips": float(closed),
        "open_round_trips": float(still_open),
        "fills_per_round_trip": len(fills) / trips if trips else float("nan"),
        "turnover": turnover(traded_notional(ledger), ledger["equity"]),
        "fees": fees,
        "fees_pct": fees / initial_balance,
    }
