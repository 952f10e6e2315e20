"""SB3's logger as an MLflow sink: ``train/*``, ``rollout/*``, ``time/*`` become MLflow metrics.

SB3 calls :meth:`MLflowOutputFormat.write` on every ``logger.dump(step)``; the numeric values
are sent in one ``log_batch`` call with ``step`` = the agent's env-step counter, so curves of a
resumed run continue where the old run stopped.
"""

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from stable_baselines3.common.logger import KVWriter, Logger

log = logging.getLogger(__name__)

_BATCH_LIMIT = 1000  # MLflow's cap on metrics per log_batch call


class MLflowOutputFormat(KVWriter):
    """A KVWriter that logs every finite numeric value to one MLflow run."""

    def __init__(self, run_id: str, client: MlflowClient | None = None) -> None:
        self.run_id = run_id
        self.client = client or MlflowClient()

    def write(
        self,
        key_values: Mapping[str, Any],
        key_excluded: Mapping[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        """Log ``key_values`` at ``step`` (env-steps); strings, tensors and NaN are skipped."""
        stamp = int(time.time() * 1000)
        metrics = []
        for key, value in key_values.items():
            excluded = key_excluded.get(key) or ()
            if "mlflow" in excluded:
                continue
            number = _as_float(value)
            if number is None:
                continue
            metrics.append(Metric(key=key, value=number, timestamp=stamp, step=int(step)))
        for i in range(0, len(metrics), _BATCH_LIMIT):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + _BATCH_LIMIT])

    def close(self) -> None:
        """Nothing to release: the client is stateless."""


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def make_sb3_logger(run_id: str) -> Logger:
    """An SB3 Logger writing to MLflow run ``run_id`` only."""
    formats: list[KVWriter] = [MLflowOutputFormat(run_id)]
    return Logger(folder=None, output_formats=formats)
