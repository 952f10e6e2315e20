"""Higher-timeframe bars from base bars, and the causal merge back onto base rows.

Resampling (``resample_closed``): base bars are grouped into buckets of the target length
aligned to the Unix epoch (4h buckets start at 00:00, 04:00, ... UTC; 1d at 00:00 UTC). A
bucket's bar is open = first open, high = max, low = min, close = last close, volume = sum,
and it *closes* at bucket start + target length.

- The last bucket is dropped unless the last base bar closes at or after the bucket's end
  (an incomplete bar is never used: it has not closed yet).
- A bucket inside the data with missing base bars (an exchange outage) is kept and built
  from the bars it has: it has closed, and its values depend only on bars inside it, so it
  is the same whether computed on a prefix or on all the data. A bucket with no base bars
  does not exist; indicators on the resampled series step over it like over any gap.

Merging (``merge_to_base``): a higher-timeframe value becomes visible at the first base row
whose close (open + base length) is at or after that bar's close, and stays until the next
one does; rows before the first closed bar are ``UNDEFINED``.
"""

import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN, TIME, VOLUME
from btcrl.data.timeframes import timeframe_seconds
from btcrl.errors import ConfigError

NS = 1_000_000_000


def check_timeframes(base: str, target: str) -> bool:
    """True if ``target`` is a real higher timeframe of ``base`` (needs resampling), False
    if it is the same or shorter (the strategy runs on base bars). ConfigError if ``target``
    is longer but not a whole multiple of ``base``."""
    b, t = timeframe_seconds(base), timeframe_seconds(target)
    if t <= b:
        return False
    if t % b:
        raise ConfigError(
            f"strategy timeframe {target!r} is not a whole multiple of the data timeframe {base!r}"
        )
    return True


def resample_closed(candles: pd.DataFrame, base: str, target: str) -> pd.DataFrame:
    """Closed ``target`` bars built from ``base`` candles (index = bucket open time, UTC)."""
    base_ns = timeframe_seconds(base) * NS
    target_ns = timeframe_seconds(target) * NS
    times = candles.index.as_unit("ns").asi8
    empty = candles.iloc[:0].copy()
    if times.size == 0:
        return empty
    bucket = times - times % target_ns
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [times.size])) - 1
    keep = starts.size
    if bucket[-1] + target_ns > times[-1] + base_ns:  # last bucket has not closed yet
        keep -= 1
    if keep == 0:
        return empty
    o, h, lo, c, v = (candles[col].to_numpy(np.float64) for col in (OPEN, HIGH, LOW, CLOSE, VOLUME))
    index = pd.DatetimeIndex(pd.to_datetime(bucket[starts[:keep]], utc=True), name=TIME).as_unit(
        candles.index.unit
    )
    return pd.DataFrame(
        {
            OPEN: o[starts[:keep]],
            HIGH: np.maximum.reduceat(h, starts)[:keep],
            LOW: np.minimum.reduceat(lo, starts)[:keep],
            CLOSE: c[ends[:keep]],
            VOLUME: np.add.reduceat(v, starts)[:keep],
        },
        index=index,
    )


def merge_to_base(
    values: np.ndarray,
    bar_times: pd.DatetimeIndex,
    target: str,
    base_times: pd.DatetimeIndex,
    base: str,
    fill: int | float,
) -> np.ndarray:
    """Per base row, the latest ``values`` entry whose bar closed at or before the row's close.

    ``bar_times``/``base_times``: open times; ``target``/``base``: their bar lengths.
    Rows before the first closed bar get ``fill``.
    """
    bar_close = bar_times.as_unit("ns").asi8 + timeframe_seconds(target) * NS
    row_close = base_times.as_unit("ns").asi8 + timeframe_seconds(base) * NS
    idx = np.searchsorted(bar_close, row_close, side="right") - 1
    out = np.full(row_close.shape[0], fill, dtype=values.dtype)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out
