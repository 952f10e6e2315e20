"""`btcrl promote` end to end on a real sqlite store: a tiny trained champion, replayed on
the challenger's out-of-sample windows of the bundled sample, against walk-forward output
simulated by hand (version tags + an ``oos_returns.csv`` parent run)."""

import contextlib
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, write_oos_returns
from btcrl.cli import main
from btcrl.config import DataConfig, ExperimentConfig, FeaturesConfig, with_overrides
from btcrl.metrics import sharpe_per_bar
from btcrl.tracking import tags as tag_names
from btcrl.tracking.aliases import (
    CHAMPION,
    alias_version,
    describe_version,
    format_windows,
    set_alias,
)

pytestmark = pytest.mark.slow
NAME = "btcrl-ppo"
WINDOWS = [(date(2025, 3, 1), date(2025, 3, 7)), (date(2025, 3, 15), date(2025, 3, 21))]
SHIFT = 5e-4  # per-bar return the simulated challenger gains (or loses) against the champion


@dataclass
class Store:
    db: Path
    data_dir: Path
    champion_returns: pd.Series  # version 1 replayed on WINDOWS


def _train_config(uri: str, data_dir: Path) -> ExperimentConfig:
    values = {
        "tracking.uri": uri,
        "data.data_dir": str(data_dir),
        "data.start": "2025-01-01",
        "data.end": "2025-02-15",
        "train.total_timesteps": 1024,
        "train.n_envs": 4,
        "train.eval_every": 1024,
        "train.system_metrics": False,
        "env.episode_length": 128,
        "env.exposure_deadzone": 0.0,  # an untrained policy's small targets still trade
        "agent.n_steps": 64,
        "agent.batch_size": 256,
        "agent.n_epochs": 1,
        "agent.net_arch": [16, 16],
        "agent.device": "cpu",
        "env.action_mode": "absolute",  # features built without the prior below
        "features.prior.enabled": False,
    }
    return with_overrides(ExperimentConfig(), values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, _tracking_template: Path) -> Store:
    """One tiny PPO run registered twice (v1, v2) and v1 replayed on WINDOWS."""
    from btcrl.agents import run_training
    from btcrl.features import load_feature_set
    from btcrl.promote.replay import policy_returns
    from btcrl.tracking.models import register_model

    home = tmp_path_factory.mktemp("promote")
    (home / "mlruns").mkdir()
    db = home / "mlruns" / "mlflow.db"
    shutil.copyfile(_tracking_template, db)
    config = _train_config(f"sqlite:///{db}", home / "data")
    features = load_feature_set(config.data, FeaturesConfig())
    result = run_training(config, features=features)
    assert result.model_version == 1
    assert register_model(result.run_id, NAME, alias=None) == 2
    data = DataConfig(data_dir=home / "data")
    returns = policy_returns(f"models:/{NAME}/1", WINDOWS, data, config.env)
    mlflow.set_tracking_uri("sqlite:///:memory:")  # nothing else writes to the template copy
    return Store(db, home / "data", returns)


@pytest.fixture
def store(trained: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of the trained store (the models' artifacts stay where they were).

    Copied with sqlite's backup API, not as a file: the store is in WAL mode
    (tracking.store.ensure_store) and this process still holds the trained fixture's
    connections, so its last commits (the registered model and its versions) may sit in
    ``mlflow.db-wal``, which a copy of ``mlflow.db`` alone leaves behind."""
    (tmp_path / "mlruns").mkdir()
    db = tmp_path / "mlruns" / "mlflow.db"
    with (
        contextlib.closing(sqlite3.connect(trained.db)) as source,
        contextlib.closing(sqlite3.connect(db)) as copy,
    ):
        source.backup(copy)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    return uri


def _simulate_walkforward(returns: pd.Series, dsr: float, tmp_path: Path) -> None:
    """What a walk-forward leaves behind for version 2: a parent run with oos_returns.csv
    and the version's tags."""
    path = write_oos_returns(tmp_path / OOS_RETURNS_ARTIFACT, returns.index, returns.to_numpy())
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name("btcrl-walkforward")
    experiment = found.experiment_id if found else client.create_experiment("btcrl-walkforward")
    # no mlflow.set_experiment: it leaves MLFLOW_EXPERIMENT_ID and the active experiment
    # set for every later test of the session
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(path))
    tags = {
        tag_names.OOS_DSR: dsr,
        tag_names.OOS_N_TRIALS: 10,  # a tune of 10 trials (a walk-forward parent: in the ledger)
        tag_names.OOS_PARENT_RUN: run.info.run_id,
        tag_names.OOS_WINDOWS: format_windows(WINDOWS),
    }
    describe_version(NAME, 2, tags, "walk-forward output (simulated)")


def _promote(uri: str, data_dir: Path, *extra: str) -> tuple[int, str]:
    # stdout holds the decision, stderr an error line
    args = ["promote", f"models:/{NAME}/2", "--set", f"tracking.uri={uri}"]
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir), *extra])
    return result.exit_code, (result.stdout + result.stderr).strip()


def test_replay_covers_each_window_after_its_first_close(trained: Store) -> None:
    index = trained.champion_returns.index
    assert index[0] == pd.Timestamp("2025-03-01 01:00", tz="UTC")
    assert index[-1] == pd.Timestamp("2025-03-21 23:00", tz="UTC")
    assert len(index) == 2 * (7 * 24 - 1)
    assert np.isfinite(trained.champion_returns.to_numpy()).all()
    assert trained.champion_returns.std() > 0  # the champion trades: its Sharpe is finite


def test_promotes_a_challenger_that_beats_the_champion(
    trained: Store, store: str, tmp_path: Path
) -> None:
    set_alias(NAME, CHAMPION, 1)
    _simulate_walkforward(trained.champion_returns + SHIFT, 0.97, tmp_path)
    code, output = _promote(store, trained.data_dir)
    assert code == 0, output
    ours = sharpe_per_bar((trained.champion_returns + SHIFT).to_numpy())
    theirs = sharpe_per_bar(trained.champion_returns.to_numpy())
    assert output == (
        f"{NAME} v2: promoted: DSR (N = 10) 0.970 >= 0.950; per-bar Sharpe {ours:.4f} beats "
        f"the champion's {theirs:.4f} over the same 334 out-of-sample bars"
    )
    assert alias_version(NAME, CHAMPION) == 2


def test_refuses_a_challenger_that_loses_on_the_same_bars(
    trained: Store, store: str, tmp_path: Path
) -> None:
    set_alias(NAME, CHAMPION, 1)
    _simulate_walkforward(trained.champion_returns - SHIFT, 0.99, tmp_path)
    code, output = _promote(store, trained.data_dir)
    assert code == 1
    assert len(output.splitlines()) == 1
    assert "not promoted: DSR (N = 10) 0.990 >= 0.950 but per-bar Sharpe" in output
    assert "does not beat the champion's" in output
    assert alias_version(NAME, CHAMPION) == 1


def test_refuses_a_low_dsr_and_leaves_the_registry_alone(
    trained: Store, store: str, tmp_path: Path
) -> None:
    _simulate_walkforward(trained.champion_returns + SHIFT, 0.80, tmp_path)
    code, output = _promote(store, trained.data_dir)
    assert (code, output) == (
        1,
        f"{NAME} v2: not promoted: DSR (N = 10) 0.800 is below promote.min_dsr 0.950",
    )
    assert alias_version(NAME, CHAMPION) is None
    code, output = _promote(store, trained.data_dir, "--min-dsr", "0.8")
    assert (code, output) == (
        0,
        f"{NAME} v2: promoted: DSR (N = 10) 0.800 >= 0.800 and there is no champion yet",
    )
    assert alias_version(NAME, CHAMPION) == 2


def test_the_champion_itself_is_not_promoted_again(
    trained: Store, store: str, tmp_path: Path
) -> None:
    _simulate_walkforward(trained.champion_returns, 0.99, tmp_path)
    set_alias(NAME, CHAMPION, 2)
    code, output = _promote(store, trained.data_dir)
    assert (code, output) == (
        1,
        f"{NAME} v2: not promoted: it is already the champion",
    )


def test_a_version_without_walkforward_tags_is_an_error(trained: Store, store: str) -> None:
    code, output = _promote(store, trained.data_dir)
    assert code == 1
    assert output == (
        f"error: {NAME} version 2 has no tag {tag_names.OOS_DSR}: only a walk-forward or tune "
        "output can be promoted"
    )


def test_a_champion_on_other_bars_is_not_compared(
    trained: Store, store: str, tmp_path: Path
) -> None:
    set_alias(NAME, CHAMPION, 1)
    shifted = trained.champion_returns.copy()
    shifted.index = shifted.index + pd.Timedelta(days=30)  # bars the champion never saw
    _simulate_walkforward(shifted, 0.99, tmp_path)
    code, output = _promote(store, trained.data_dir)
    assert code == 1
    assert "the champion's re-run covers 0 of the challenger's 334" in output
    assert alias_version(NAME, CHAMPION) == 1
