"""FeatureSet -> tables and statistics for people (``btcrl features --out``, ingest runs)."""

import numpy as np
import pandas as pd

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN, VOLUME
from btcrl.features.spec import FeatureSet


def feature_table(fs: FeatureSet) -> pd.DataFrame:
    """One row per bar (index: UTC open time): raw ``open, high, low, close, volume``, the raw
    values (``raw_<indicator>``, ``raw_turbulence``, ``raw_<external>``, ``signal_<strategy>``
    as int8 codes, -1 before warm-up), every normalised column under its spec name (float32,
    exactly what the env observes) and ``valid`` (row >= first_valid)."""
    data: dict[str, np.ndarray] = {}
    for j, col in enumerate((OPEN, HIGH, LOW, CLOSE)):
        data[col] = fs.prices[:, j]
    data[VOLUME] = fs.volume
    if fs.raw is not None:
        for j, name in enumerate(fs.raw_names):
            column = fs.raw[:, j]
            data[name] = column.astype(np.int8) if name.startswith("signal_") else column
    for j, name in enumerate(fs.spec.feature_names):
        data[name] = fs.features[:, j]
    data["valid"] = np.arange(len(fs)) >= fs.first_valid
    return pd.DataFrame(data, index=fs.index)


def feature_stats(fs: FeatureSet) -> dict[str, float]:
    """Per normalised column over the valid rows: ``<name>.mean|std|min|max`` and
    ``<name>.nan`` (NaN/Inf count over all rows, warm-up included); plus ``rows`` and
    ``first_valid``. Keys are MLflow-metric-safe."""
    stats: dict[str, float] = {"rows": float(len(fs)), "first_valid": float(fs.first_valid)}
    valid = fs.features[fs.first_valid :].astype(np.float64)
    for j, name in enumerate(fs.spec.feature_names):
        column = valid[:, j]
        stats[f"{name}.mean"] = float(column.mean()) if column.size else float("nan")
        stats[f"{name}.std"] = float(column.std()) if column.size else float("nan")
        stats[f"{name}.min"] = float(column.min()) if column.size else float("nan")
        stats[f"{name}.max"] = float(column.max()) if column.size else float("nan")
        stats[f"{name}.nan"] = float((~np.isfinite(fs.features[:, j])).sum())
    return stats
