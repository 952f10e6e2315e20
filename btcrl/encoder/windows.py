"""Windows of feature rows: the encoder's samples and the policy's view of the past."""

import numpy as np

from btcrl.errors import DataError
from btcrl.features.spec import FeatureSet


def window_ends(features: FeatureSet, window: int) -> np.ndarray:
    """Rows that can end a full window of valid rows: ``first_valid + window - 1 .. T - 1``."""
    first = features.first_valid + window - 1
    if first >= len(features):
        raise DataError(
            f"a window of {window} bars does not fit the {len(features) - features.first_valid} "
            f"valid rows of the feature set"
        )
    return np.arange(first, len(features), dtype=np.int64)


def gather_windows(values: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """float32 (len(ends), window, F): rows ``end - window + 1 .. end`` for each end (a copy)."""
    offsets = np.arange(-window + 1, 1, dtype=np.int64)
    return np.ascontiguousarray(values[ends[:, None] + offsets[None, :]], dtype=np.float32)
