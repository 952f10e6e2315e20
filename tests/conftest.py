"""Shared fixtures: a seeded synthetic candle frame and the real data in ../shared/data."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.data.columns import CLOSE, HIGH, LOW, OHLCV, OPEN, TIME, VOLUME

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_candles(
    n: int = 2000, seed: int = 0, start: str = "2024-01-01", freq: str = "1h"
) -> pd.DataFrame:
    """Seeded geometric random walk as a valid candle frame (UTC open times)."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0, 0.01, n)
    close = 30_000.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.004, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.lognormal(3.0, 0.5, n)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name=TIME)
    return pd.DataFrame(
        {OPEN: open_, HIGH: high, LOW: low, CLOSE: close, VOLUME: volume}, index=index
    )


@pytest.fixture
def candles() -> pd.DataFrame:
    """2,000 hourly synthetic candles, seed 0."""
    return make_candles()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real market data (see its SOURCES.md)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    """62,482 real hourly Binance candles, 2018-02-09 .. 2025-03-31 (25 gaps, SOURCES.md),
    read with plain pandas (not btcrl.data)."""
    frame = pd.read_csv(shared_data / "BTCUSDT_1h_binance.csv")
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("datetime"), utc=True), name=TIME)
    return frame.set_index(index)[list(OHLCV)].astype("float64")


@pytest.fixture(scope="session")
def vix_csv(shared_data: Path) -> Path:
    """CBOE's daily VIX file (DATE MM/DD/YYYY, OPEN, HIGH, LOW, CLOSE)."""
    return shared_data / "VIX_daily_cboe.csv"


@pytest.fixture(scope="session")
def _tracking_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store, built once per session (migrations take
    several seconds); each test gets its own copy."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    SqlAlchemyStore(f"sqlite:///{db}", (folder / "artifacts").as_uri())
    return db


@pytest.fixture
def tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _tracking_template: Path
) -> Iterator[str]:
    """A private sqlite MLflow store for one test (MLFLOW_TRACKING_URI points at it)."""
    import mlflow

    (tmp_path / "mlruns").mkdir()
    db = tmp_path / "mlruns" / "mlflow.db"
    shutil.copyfile(_tracking_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
