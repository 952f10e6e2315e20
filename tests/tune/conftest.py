"""Fixtures for tune tests (helpers and the training test double: tune_helpers.py)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from tune_helpers import FakeTraining


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store, made once (migrations take seconds)."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def study_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_template: Path
) -> Iterator[Path]:
    """A temp cwd (so studies/ lands there) with MLflow pointed at a private copy of the store."""
    (tmp_path / "mlruns").mkdir()
    shutil.copy(mlflow_template, tmp_path / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield tmp_path
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def fake_training(monkeypatch: pytest.MonkeyPatch) -> FakeTraining:
    """Patch btcrl.agents.run_training with a FakeTraining (in-process workers only)."""
    import btcrl.agents

    fake = FakeTraining()
    monkeypatch.setattr(btcrl.agents, "run_training", fake, raising=False)
    return fake
