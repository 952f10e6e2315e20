"""A command that fails does nothing first: it trains nothing, moves no alias (issue 23.5)
and leaves no file behind (23.6); files it does write are readable by the team (23.11)."""

import os
import stat
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.cli import main

QUICK = ["--total-timesteps", "256", "--n-envs", "2", "--set", "train.system_metrics=false"]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (["--backtest-start", "2025-03-01", "--backtest-end", "2025-01-01"], "is before its start"),
        (["--backtest-start", "2031-01-01", "--backtest-end", "2031-02-01"], "2031-01-01"),
    ],
)
def test_train_with_a_bad_backtest_period_trains_and_registers_nothing(
    tracking_uri: str, tmp_path: Path, period: list[str], expected: str
) -> None:
    data = ["--data-dir", str(tmp_path / "data"), "--end", "2024-09-30"]
    code, err = _invoke("train", *data, *QUICK, *period)
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1
    client = mlflow.MlflowClient()
    assert client.search_registered_models() == []  # no version, no @candidate moved
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_from_study_with_no_study_leaves_no_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    code, err = _invoke("train", "--from-study", "nostudy", "--storage", f"sqlite:///{db}")
    assert code == 1 and "no study 'nostudy'" in err
    assert not db.exists()


def test_tune_with_a_period_outside_the_data_leaves_no_database(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["tune", "--data-dir", str(tmp_path / "data"), "--study", "s", "--trials", "1"]
    code, err = _invoke(*args, "--start", "2031-01-01", "--end", "2031-03-01")
    assert code == 1 and "2031" in err
    assert not (tmp_path / "studies").exists()


def test_tune_storage_in_a_missing_folder_creates_no_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    code, err = _invoke("tune", "--storage", f"sqlite:///{missing / 'x.db'}")
    assert code == 1 and "does not exist" in err
    assert not (tmp_path / "nonexistent").exists()


def test_a_misspelt_exchange_leaves_no_store_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["ingest", "--source", "ccxt", "--exchange", "binanse", "--data-dir", str(data)]
    code, err = _invoke(*args, "--set", "tracking.enabled=false", "--no-features")
    assert code == 1 and "did you mean binance" in err
    assert _files(data) == []


def test_stored_candles_take_the_umask_mode_not_0600(tmp_path: Path) -> None:
    from btcrl.config import DataConfig
    from btcrl.data import ingest_candles, open_store

    old = os.umask(0o022)
    try:
        config = DataConfig(data_dir=tmp_path / "data", source="sample")
        ingest_candles(config)
    finally:
        os.umask(old)
    store = open_store(config)
    written = [p for p in store.path.parent.iterdir() if p.is_file() and p.suffix != ".lock"]
    assert written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
