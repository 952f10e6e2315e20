"""The embedded sqlite store runs in WAL mode with ``synchronous=NORMAL`` (no fsync per
commit; btcrl.tracking.store explains why a crash loses nothing), other stores untouched."""

import sqlite3
from pathlib import Path

import mlflow
from mlflow.tracking._tracking_service.utils import _get_store

from btcrl.config import TrackingConfig
from btcrl.tracking import configure_tracking, ensure_experiment


def test_store_is_wal_and_its_connections_sync_normal(tmp_path: Path) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    uri = configure_tracking(TrackingConfig(uri=f"sqlite:///{db}"))
    ensure_experiment("btcrl-test")
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with _get_store(uri).engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("btcrl-test").experiment_id):
        mlflow.log_metric("x", 1.0)  # writes go through


def test_other_sqlite_files_keep_full_sync(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    configure_tracking(TrackingConfig(uri=f"sqlite:///{tmp_path / 'm' / 'mlflow.db'}"))
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")  # rollback journal
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
