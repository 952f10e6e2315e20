"""Express an episode's fills as an order series another backtester can replay.

The engine fills an agent order at a bar's open, a stop inside the bar (at the stop price,
or the open when the bar gaps through it) and a forced close at the last close, each at a
reference price moved by slippage against the trader; the ledger records both prices.
``order_series`` reads, per bar, the signed quantity and the *reference* price, so that a
backtester that applies the same fee and slippage (vectorbt's ``Portfolio.from_orders(
size=..., price=..., fees=..., slippage=...)``) must reproduce the equity curve. One order
per bar: a bar with two fills (an order at the open and a stop in the same bar) raises
ValueError.
"""

import numpy as np

from btcrl.metrics.trades import FILL_KINDS
from btcrl.policy.episode import Episode


def order_series(episode: Episode, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, price) per feature-set row: signed BTC (NaN = no order) and reference price
    before slippage (NaN where there is no order; the caller fills in any price there)."""
    bars = episode.field("bar").astype(np.int64)
    size = np.full(n_rows, np.nan)
    price = np.full(n_rows, np.nan)
    count = np.zeros(len(bars), dtype=np.int64)
    for _kind, qty_name, _paid, ref_name, _fee in FILL_KINDS:
        qty = episode.field(qty_name)
        filled = qty != 0
        count += filled
        size[bars[filled]] = qty[filled]
        price[bars[filled]] = episode.field(ref_name)[filled]
    doubled = np.flatnonzero(count > 1)
    if doubled.size:
        raise ValueError(
            f"{doubled.size} bars have more than one fill (first: row {bars[doubled[0]]}); "
            "one order per bar cannot express them"
        )
    return size, price
