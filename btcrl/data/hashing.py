"""Content hashes of candle frames (the ``btcrl.data_hash`` tag and cache keys)."""

import hashlib

import numpy as np
import pandas as pd

from btcrl.data.columns import OHLCV


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of the open times (ns) and OHLCV values (float64)."""
    digest = hashlib.sha256()
    times = frame.index.as_unit("ns").asi8 if len(frame) else np.empty(0, np.int64)
    digest.update(np.ascontiguousarray(times, dtype=np.int64).tobytes())
    values = frame[list(OHLCV)].to_numpy(dtype=np.float64)
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]
