"""``log_candles``: the same bars logged again (trial after trial) record the same dataset
without MLflow inferring its schema again."""

from collections.abc import Callable
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

import btcrl.tracking.records as records
from btcrl.features.spec import FeatureSet, FeatureSpec


def candle_set(candles: pd.DataFrame) -> FeatureSet:
    spec = FeatureSpec("binance", "BTC/USDT", "1h", columns=(), data_hash="hash-of-the-candles")
    return FeatureSet(
        spec=spec,
        times=candles.index.as_unit("ns").asi8,
        prices=candles[["open", "high", "low", "close"]].to_numpy(np.float64),
        volume=candles["volume"].to_numpy(np.float64),
        features=np.zeros((len(candles), 0), np.float32),
    )


def logged(fs: FeatureSet) -> Any:
    with mlflow.start_run() as run:
        records.log_candles(fs, "sample", "training")
    (dataset_input,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    return dataset_input.dataset


def test_same_bars_twice_log_the_same_dataset_built_once(
    tracking_uri: str, btc_1h: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "_DATASETS", {})
    built: list[int] = []
    original: Callable[..., Any] = mlflow.data.pandas_dataset.from_pandas

    def counted(df: pd.DataFrame, **kwargs: Any) -> Any:
        built.append(len(df))
        return original(df, **kwargs)

    monkeypatch.setattr(mlflow.data.pandas_dataset, "from_pandas", counted)
    fs = candle_set(btc_1h.iloc[:500])
    first, again = logged(fs), logged(candle_set(btc_1h.iloc[:500]))
    shorter = logged(fs.rows(0, 499))
    assert built == [500, 499]  # the second log of the same bars reused the first's dataset
    fields = ("name", "digest", "source_type", "source", "schema", "profile")
    assert [getattr(again, f) for f in fields] == [getattr(first, f) for f in fields]
    assert '"num_rows": 500' in first.profile and '"num_rows": 499' in shorter.profile
    assert shorter.digest != first.digest
    assert '"name": "close"' in first.schema and first.name == "sample BTC/USDT 1h"
