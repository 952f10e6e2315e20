"""FeatureSet building: layout, first_valid, the cache, tables, stats, errors, loading, CLI."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import btcrl.features.build as build
from btcrl.config import DataConfig, FeaturesConfig, TurbulenceConfig
from btcrl.data.sample import load_sample
from btcrl.errors import DataError
from btcrl.features import (
    FeatureSpec,
    build_feature_set,
    feature_stats,
    feature_table,
    load_feature_set,
)
from btcrl.features.spec import FeatureSet

MARKET = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample().iloc[:4000]


@pytest.fixture(scope="module")
def fs(sample: pd.DataFrame) -> FeatureSet:
    return build_feature_set(sample, FeaturesConfig(), **MARKET)


def test_layout_and_first_valid(fs: FeatureSet, sample: pd.DataFrame) -> None:
    names = fs.spec.feature_names
    assert names[:5] == ("open_rel", "high_rel", "low_rel", "close_ret", "volume_log")
    assert names[5:13] == FeaturesConfig().indicators
    assert names[13] == "turbulence"
    assert names[14:18] == (
        "awesome_macd_flat",
        "awesome_macd_long",
        "awesome_macd_short",
        "awesome_macd_hold",
    )
    assert len(names) == 14 + 4 * 5 and fs.spec.observation_size == len(names) + 2
    assert fs.features.dtype == np.float32 and fs.features.shape == (len(sample), len(names))
    assert fs.prices.dtype == np.float64 and fs.volume.dtype == np.float64
    np.testing.assert_array_equal(fs.prices[:, 3], sample["close"].to_numpy())
    assert fs.times[0] == sample.index[0].value
    assert 0 < fs.first_valid < 400
    assert np.isfinite(fs.features[fs.first_valid :]).all()
    assert not np.isfinite(fs.features[fs.first_valid - 1]).all()
    onehots = fs.features[fs.first_valid :, 14:].reshape(-1, 5, 4)
    np.testing.assert_array_equal(onehots.sum(axis=2), 1.0)
    assert set(np.unique(onehots)) == {0.0, 1.0}
    assert FeatureSpec.from_json(fs.spec.to_json()) == fs.spec
    assert [c.kind for c in fs.spec.columns[:6]] == ["price"] * 4 + ["volume", "indicator"]


def test_price_block_by_hand(fs: FeatureSet, sample: pd.DataFrame) -> None:
    t = 500
    o, h, lo, c = sample.iloc[t][["open", "high", "low", "close"]]
    prev = sample["close"].iloc[t - 1]
    expected = [100 * (o / c - 1), 100 * (h / c - 1), 100 * (lo / c - 1), 100 * (c / prev - 1)]
    np.testing.assert_allclose(fs.features[t, :4], expected, rtol=1e-6, atol=1e-7)
    logged = np.log1p(sample["volume"].to_numpy())
    volume = logged[t] - logged[t - 167 : t + 1].mean()
    assert fs.features[t, 4] == pytest.approx(volume, rel=1e-5, abs=1e-6)


def test_cache_hit_is_identical_and_changes_recompute(
    sample: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = FeaturesConfig()
    first = build_feature_set(sample, config, **MARKET, data_dir=tmp_path)
    assert len(list((tmp_path / "features").iterdir())) == 1
    calls = []
    real_compute = build._compute
    monkeypatch.setattr(build, "_compute", lambda *a, **k: calls.append(1) or real_compute(*a, **k))
    hit = build_feature_set(sample, config, **MARKET, data_dir=tmp_path)
    assert calls == []
    for field in ("times", "prices", "volume", "features", "raw"):
        a, b = getattr(first, field), getattr(hit, field)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert hit.spec == first.spec and hit.first_valid == first.first_valid
    assert hit.raw_names == first.raw_names
    changed = config.model_copy(update={"turbulence": TurbulenceConfig(window=120)})
    build_feature_set(sample, changed, **MARKET, data_dir=tmp_path)
    assert calls == [1]
    edited = sample.copy()
    edited.iloc[-1, edited.columns.get_loc("close")] *= 1.001
    other = build_feature_set(edited, config, **MARKET, data_dir=tmp_path)
    assert calls == [1, 1] and other.spec.data_hash != first.spec.data_hash
    build_feature_set(sample, config, **{**MARKET, "symbol": "BTC/USDC"}, data_dir=tmp_path)
    assert calls == [1, 1, 1]
    build_feature_set(
        sample, config.model_copy(update={"cache": False}), **MARKET, data_dir=tmp_path
    )
    assert calls == [1, 1, 1, 1]
    assert len(list((tmp_path / "features").iterdir())) == 4


def test_table_and_stats(fs: FeatureSet, tmp_path: Path) -> None:
    table = feature_table(fs)
    assert len(table) == len(fs) and table.index.tz is not None
    for name in (
        "open",
        "close",
        "volume",
        "raw_macd",
        "raw_turbulence",
        "signal_ott",
        *fs.spec.feature_names,
        "valid",
    ):
        assert name in table.columns, name
    assert table["signal_ott"].dtype == np.int8 and table["signal_ott"].iloc[0] == -1
    assert table["valid"].sum() == len(fs) - fs.first_valid
    table.to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    np.testing.assert_array_equal(back["rsi_30"].to_numpy(), fs.features[:, 8])
    stats = feature_stats(fs)
    assert stats["first_valid"] == fs.first_valid and stats["rows"] == len(fs)
    assert stats["rsi_30.nan"] > 0 and -1 <= stats["rsi_30.min"] <= stats["rsi_30.max"] <= 1
    assert stats["ott_long.min"] == 0.0 and stats["ott_long.max"] == 1.0
    assert all(np.isfinite(v) for v in stats.values())
    sliced = fs.rows(100, 300)
    assert sliced.raw.shape[0] == 200 and sliced.first_valid == max(0, fs.first_valid - 100)


def test_bad_candles(sample: pd.DataFrame) -> None:
    config = FeaturesConfig()
    with pytest.raises(DataError, match="candles are empty"):
        build_feature_set(sample.iloc[:0], config, **MARKET)
    with pytest.raises(DataError, match="sorted and unique"):
        build_feature_set(sample.iloc[::-1], config, **MARKET)
    with pytest.raises(DataError, match="tz-aware UTC"):
        build_feature_set(sample.tz_localize(None), config, **MARKET)
    with pytest.raises(DataError, match=r"lack column\(s\) \['volume'\]"):
        build_feature_set(sample.drop(columns="volume"), config, **MARKET)
    with pytest.raises(DataError, match="is not on the 4h grid"):
        build_feature_set(sample, config, **{**MARKET, "timeframe": "4h"})
    with pytest.raises(DataError, match="only 100 candles: too few for the features' warm-up"):
        build_feature_set(sample.iloc[:100], config, **MARKET)


def test_load_feature_set_warms_up_before_start(tmp_path: Path) -> None:
    data = DataConfig(start="2023-06-01", end="2023-06-30", data_dir=tmp_path)
    fs = load_feature_set(data, FeaturesConfig())
    assert fs.index[0] == pd.Timestamp("2023-06-01", tz="UTC")
    assert fs.index[-1] == pd.Timestamp("2023-06-30 23:00", tz="UTC")
    assert fs.first_valid == 0 and np.isfinite(fs.features).all()
    assert fs.spec.first_bar == "2023-06-01T00:00:00+00:00"
    assert (tmp_path / "features").is_dir()


def test_cli_features_writes_the_table(tmp_path: Path, shared_data: Path) -> None:
    from btcrl.cli import main

    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(
        main,
        [
            "features",
            "--source",
            f"csv:{shared_data / 'BTCUSDT_1h_binance.csv'}",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 4_343
    assert {"macd", "turbulence", "supertrend_long", "raw_dx_30"} <= set(table.columns)
    assert "4343 bars" in result.output
    bad = CliRunner().invoke(
        main,
        [
            "features",
            "--out",
            str(out),
            "--set",
            "features.indicators=[nope_1]",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert bad.exit_code == 1 and "indicator 'nope_1' is unknown" in bad.output


def test_featureset_replace_keeps_raw_optional(fs: FeatureSet) -> None:
    bare = replace(fs, raw=None, raw_names=())
    table = feature_table(bare)
    assert "raw_macd" not in table.columns and "macd" in table.columns
