"""A fast per-test MLflow store: a migrated sqlite template, copied for each test.

Creating an MLflow sqlite store runs every schema migration (seconds on a loaded machine);
copying an already-migrated file takes milliseconds and keeps tests isolated.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest


@pytest.fixture(scope="session")
def _store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(
    _store_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A private, already-migrated sqlite MLflow store (MLFLOW_TRACKING_URI points at it)."""
    store = tmp_path / "mlruns"
    store.mkdir()
    shutil.copyfile(_store_template, store / "mlflow.db")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
