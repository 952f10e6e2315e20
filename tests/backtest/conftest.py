"""Backtest fixtures: bare FeatureSets (no market columns) over synthetic or real candles."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.data.columns import CLOSE, HIGH, LOW, OPEN, VOLUME
from btcrl.features.spec import FeatureSet, FeatureSpec


def bare_feature_set(candles: pd.DataFrame, timeframe: str = "1h") -> FeatureSet:
    """A FeatureSet that observes only the account (cash and position): enough for the engine."""
    spec = FeatureSpec("binance", "BTC/USDT", timeframe, columns=())
    return FeatureSet(
        spec=spec,
        times=candles.index.as_unit("ns").asi8,
        prices=candles[[OPEN, HIGH, LOW, CLOSE]].to_numpy(np.float64),
        volume=candles[VOLUME].to_numpy(np.float64),
        features=np.zeros((len(candles), 0), np.float32),
        first_valid=0,
    )


@pytest.fixture(scope="session")
def real_candles(shared_data: Path) -> pd.DataFrame:
    """Binance BTC/USDT 1h candles, H1 2023 (real data from ../shared/data)."""
    from btcrl.data.csv_source import read_csv_candles

    frame = read_csv_candles(shared_data / "BTCUSDT_1h_binance.csv")
    return frame.loc["2023-01-01":"2023-06-30"]


@pytest.fixture(scope="session")
def bt_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private data dir and MLflow store shared by the backtest tests of one session."""
    home = tmp_path_factory.mktemp("bt")
    (home / "mlruns").mkdir()
    return home


def bt_overrides(home: Path) -> list[str]:
    """Config overrides that keep a test's data and runs under ``home``, with the engine's
    rules the expected values assume (shorts, no carry), not the shipped long-only recipe."""
    return [
        f"data.data_dir={home / 'data'}",
        f"tracking.uri=sqlite:///{home / 'mlruns' / 'mlflow.db'}",
        "env.allow_short=true",
        "env.borrow_rate_annual=0",
    ]


@pytest.fixture(scope="session")
def trained_model(bt_home: Path) -> str:
    """A tiny PPO trained on the bundled sample, 2024-07-01 .. 2024-09-30, registered as
    btcrl-ppo-test (alias candidate); returns its ``models:/NAME/VERSION`` URI."""
    import os

    from btcrl.agents import run_training
    from btcrl.config import load_config

    os.environ.pop("MLFLOW_RUN_ID", None)
    config = load_config(
        None,
        [
            *bt_overrides(bt_home),
            "data.start=2024-07-01",
            "data.end=2024-09-30",
            "train.total_timesteps=256",
            "train.n_envs=2",
            "train.eval_every=256",
            "train.model_name=btcrl-ppo-test",
            "agent.n_steps=64",
            "agent.batch_size=64",
            "agent.n_epochs=1",
            "env.episode_length=64",
            "train.system_metrics=false",
        ],
    )
    return run_training(config).model_uri
