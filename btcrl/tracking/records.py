"""What a run holds: metrics, tags, text and file artifacts, and the candles it used.

Functions without ``run_id`` write to the active run; with ``run_id`` they write to that run
through the client (callbacks and workers that run outside ``start_run``'s block).
Non-finite metric values are skipped (MLflow stores NaN but the UI cannot plot it).
"""

import contextlib
import hashlib
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.data.pandas_dataset
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from btcrl.tracking.store import guard_store, local_artifact_dir

if TYPE_CHECKING:  # only for the annotation: tracking stays light to import
    from btcrl.features.spec import FeatureSet

_BATCH_LIMIT = 1000  # MLflow's cap on metrics per log_batch call
#: MLflow's dataset contexts btcrl uses
DATASET_CONTEXTS = ("training", "validation", "backtest")
#: the candle datasets logged last in this process, by name, digest, rows and first bar: the
#: same bars logged again (a study's folds, trial after trial) reuse the dataset's schema,
#: which MLflow infers by visiting every value (about 40 ms for 10k bars)
_DATASETS: dict[tuple[str, str, int, int], mlflow.data.pandas_dataset.PandasDataset] = {}
_DATASETS_KEPT = 16


@guard_store
def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None
) -> None:
    """Log the finite values of ``metrics`` (at ``step``, e.g. env-steps) in one batch."""
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    if not finite:
        return
    if run_id is None:
        mlflow.log_metrics(finite, step=step)
        return
    stamp = int(time.time() * 1000)
    batch = [Metric(k, v, stamp, step or 0) for k, v in finite.items()]
    client = MlflowClient()
    for i in range(0, len(batch), _BATCH_LIMIT):
        client.log_batch(run_id, metrics=batch[i : i + _BATCH_LIMIT])


@guard_store
def set_tags(tags: Mapping[str, str], run_id: str | None = None) -> None:
    """Set ``tags`` (string values) on the active run or on ``run_id``."""
    if run_id is None:
        mlflow.set_tags(dict(tags))
        return
    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


@guard_store
def log_text(text: str, artifact_file: str) -> None:
    """``text`` as artifact ``artifact_file`` of the active run."""
    mlflow.log_text(text, artifact_file)


@guard_store
def log_dict(payload: Mapping[str, Any], artifact_file: str) -> None:
    """``payload`` as a JSON (or YAML, by extension) artifact of the active run."""
    mlflow.log_dict(dict(payload), artifact_file)


@guard_store
def log_artifact(path: Path, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Copy file ``path`` into the run's artifacts (under ``artifact_path``)."""
    if run_id is None:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)
    else:
        MlflowClient().log_artifact(run_id, str(path), artifact_path)


@guard_store
def log_artifacts(folder: Path, artifact_path: str | None = None) -> None:
    """Copy every file under ``folder`` into the active run's artifacts: all of them or, when
    the store fails half-way (a full disk), none (no truncated report left in the run)."""
    try:
        mlflow.log_artifacts(str(folder), artifact_path=artifact_path)
    except Exception:
        dest = local_artifact_dir(mlflow.get_artifact_uri(artifact_path))
        if dest is not None:
            for path in folder.rglob("*"):
                if path.is_file():
                    with contextlib.suppress(OSError):
                        (dest / path.relative_to(folder)).unlink(missing_ok=True)
        raise


@guard_store
def log_candles(features: "FeatureSet", source: str, context: str) -> None:
    """Record the bars of ``features`` a run used as an MLflow dataset input (the runs table's
    Dataset column): name ``<source> <symbol> <timeframe>``, ``context`` one of training |
    validation | backtest. The digest covers the data hash and the span, so a run's training
    and validation parts are two datasets. Only the schema and a profile are stored."""
    if context not in DATASET_CONTEXTS:
        raise ValueError(f"dataset context {context!r}: use one of {DATASET_CONTEXTS}")
    spec = features.spec
    span = f"{spec.data_hash}:{features.times[0]}:{features.times[-1]}" if len(features) else ""
    digest = hashlib.sha256(span.encode()).hexdigest()[:16]
    name = f"{source} {spec.symbol} {spec.timeframe}"
    key = (name, digest, len(features), int(features.times[0]) if len(features) else 0)
    dataset = _DATASETS.get(key)
    if dataset is None:
        candles = pd.DataFrame(
            np.column_stack([features.prices, features.volume]),
            columns=["open", "high", "low", "close", "volume"],
        )
        candles.insert(0, "time", features.index)
        dataset = mlflow.data.pandas_dataset.from_pandas(candles, name=name, digest=digest)
        if len(_DATASETS) >= _DATASETS_KEPT:
            _DATASETS.pop(next(iter(_DATASETS)))
        _DATASETS[key] = dataset
    mlflow.log_input(dataset, context=context)
