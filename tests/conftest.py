"""Shared fixtures: a seeded synthetic candle frame and real-data extracts shipped in the repo.

The extracts (tests/data/real/*.csv.gz, cut from ../shared/data by make_extracts.py there,
rows byte for byte) are unpacked once per session under their original file names, so no
test needs anything outside the repository. Under ``CI=true`` a test that still skips for
missing data fails instead (``pytest_runtest_makereport`` below; ``.ci/run`` sets CI), and so
does a skip of a ``postgres`` test: ``.ci/run`` starts the server, and a CI run that could not
start it has not tested what it claims. The session starts with the numba cache guard
(``btcrl.kernel_cache``), as every command does.
"""

import gzip
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.data.columns import CLOSE, HIGH, LOW, OHLCV, OPEN, TIME, VOLUME
from btcrl.kernel_cache import drop_stale_kernels

EXTRACTS = Path(__file__).resolve().parent / "data" / "real"
DATA_SKIP = re.compile(r"real data|shared/data|data not found|missing data", re.IGNORECASE)


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skip for missing data, or of a ``postgres`` test, is a failure: the
    claims must hold on a clone, and CI's PostgreSQL is part of what it tests."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or os.environ.get("CI") != "true":
        return
    if DATA_SKIP.search(str(report.longrepr)):
        report.outcome = "failed"
        report.longrepr = f"skipped for missing data under CI=true: {report.longrepr}"
    elif item.get_closest_marker("postgres") is not None:
        report.outcome = "failed"
        report.longrepr = f"skipped without PostgreSQL under CI=true: {report.longrepr}"


def pytest_configure(config: pytest.Config) -> None:
    """Drop numba kernels cached from older sources before any test compiles one. A model that
    learns without btcrl's logger (tests calling ``model.learn`` directly) makes SB3 create a
    ``/tmp/SB3-<time>`` folder per call; they all go into one folder, removed at the end."""
    drop_stale_kernels()
    if "SB3_LOGDIR" not in os.environ:
        os.environ["SB3_LOGDIR"] = _SB3_LOGS[0] = tempfile.mkdtemp(prefix="btcrl-tests-sb3-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SB3_LOGS[0]:
        shutil.rmtree(_SB3_LOGS[0], ignore_errors=True)
        os.environ.pop("SB3_LOGDIR", None)


_SB3_LOGS: list[str] = [""]


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real market data under the names of ../shared/data (see its SOURCES.md), as extracts:

    ==========================  =====  ==========================================
    file                        rows   span (UTC)
    ==========================  =====  ==========================================
    BTCUSDT_1h_binance.csv      4,343  2023-01-01 00:00 .. 2023-06-30 23:00 (1 gap)
    BTCUSDT_15m_binance.csv     3,000  2024-01-29 08:45 .. 2024-02-29 14:30
    ETH_USD_1h_2022_2024.csv      744  2023-01-01 00:00 .. 2023-01-31 23:00
    VIX_daily_cboe.csv            537  2022-06-01 .. 2024-06-28
    SPX_daily_yahoo.csv           522  2022-06-01 .. 2024-06-28
    DXY_daily_yahoo.csv           522  2022-06-01 .. 2024-06-28
    ==========================  =====  ==========================================
    """
    folder = tmp_path_factory.mktemp("real-data")
    for packed in sorted(EXTRACTS.glob("*.csv.gz")):
        (folder / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    return folder


@pytest.fixture(scope="session")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    """4,343 real hourly Binance candles, 2023-01-01 .. 2023-06-30 (one gap: 2023-03-24 13:00,
    a Binance outage), read with plain pandas (not btcrl.data)."""
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
