"""Fitted features and the other new columns on real data: truncation, poisoning, round trip.

Data: the bundled Binance BTC/USDT 1h sample (btcrl.data.sample) and
tests/data/eth_usd_1h_extract.csv, cut byte for byte from ../shared/data/ETH_USD_1h_2022_2024.csv
(CryptoCompare ETH/USD hourly, 2023-09-01 00:00 .. 2024-01-31 23:00 UTC, 3,672 rows, no gaps).

- Truncation: with the params fixed, every column built on ``candles[:t]`` equals the first t
  rows built on all candles, bit for bit (HMM probabilities, fracdiff, context, range
  volatility, returns, multi-asset turbulence).
- Mutation: the same check fails for a one-bar look-ahead in each of them.
- Poisoning: ``fit`` gives the same params when every price after ``fit_end`` is NaN.
- Round trip: params survive ``FeatureSpec`` JSON with the same values, and a build given
  them never calls a fit.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.config import FeaturesConfig
from btcrl.data.sample import load_sample
from btcrl.errors import CompatibilityError, ConfigError
from btcrl.features import FeatureSet, FeatureSpec, build_feature_set
from btcrl.features import fitted as fitted_module
from btcrl.features.context import align_by_close
from btcrl.features.fracdiff import ffd
from btcrl.features.hmm import filtered_probabilities, observations
from btcrl.features.volatility import garman_klass, parkinson, rolling_zscore

ETH = Path(__file__).resolve().parents[1] / "data" / "eth_usd_1h_extract.csv"
FIT_END = pd.Timestamp("2023-11-30 23:00", tz="UTC")
HOUR = 3600


def eth_config(**extra: object) -> FeaturesConfig:
    fields: dict[str, object] = {
        "indicators": (),
        "strategies": (),
        "context": ({"source": f"csv:{ETH}", "symbol": "ETH/USDT"},),
        "range_volatility": {"enabled": True},
        "returns": {"enabled": True},
        "hmm": {"enabled": True},
        "fracdiff": {"enabled": True},
        "cache": False,
    }
    return FeaturesConfig(**{**fields, **extra})


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    sample = load_sample()
    return sample.loc["2023-03-01":"2024-01-31"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fitted-data")


def build(candles: pd.DataFrame, data_dir: Path, **kwargs: object) -> FeatureSet:
    return build_feature_set(
        candles,
        kwargs.pop("config", None) or eth_config(),  # type: ignore[arg-type]
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        data_dir=data_dir,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def full(candles: pd.DataFrame, data_dir: Path) -> FeatureSet:
    return build(candles, data_dir, fit_end=FIT_END)


def test_the_new_columns_are_there(full: FeatureSet) -> None:
    names = full.spec.feature_names
    for name in (
        "turbulence", "eth_ret_1", "eth_ret_4", "eth_ret_24", "eth_corr", "eth_beta",
        "eth_ratio_ret", "eth_age", "parkinson_24", "garman_klass_24", "logret_1", "logret_24",
        "zscore_24", "zscore_168", "hmm_p0", "hmm_p3", "ffd_close",
    ):  # fmt: skip
        assert name in names, name
    assert full.spec.context == ("eth",)
    assert [p.name for p in full.spec.fitted] == ["hmm", "fracdiff"]
    for params in full.spec.fitted:
        assert params.fit_end == FIT_END.isoformat() and params.fit_start == full.spec.first_bar
    valid = full.features[full.first_valid :]
    assert np.isfinite(valid).all()
    probs = valid[:, [names.index(f"hmm_p{j}") for j in range(4)]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # ETH starts 2023-09-01: nothing that needs it is defined before
    first_eth = full.index.get_loc(pd.Timestamp("2023-09-01", tz="UTC"))
    assert full.first_valid > first_eth
    assert np.isnan(full.features[:first_eth, names.index("eth_ret_1")]).all()


def test_every_new_column_is_causal_with_the_fit_fixed(
    full: FeatureSet, candles: pd.DataFrame, data_dir: Path
) -> None:
    rng = np.random.default_rng(11)
    n, fv = len(candles), full.first_valid
    fit_row = int(candles.index.get_loc(FIT_END))
    rows = {fv + 1, fv + 2, fit_row - 1, fit_row, fit_row + 1, fit_row + 2, n - 1}
    rows |= {int(t) for t in rng.integers(fv + 1, n, 6)}
    for t in sorted(rows):
        part = build(candles.iloc[:t], data_dir, fitted=full.spec.fitted)
        for j, name in enumerate(full.spec.feature_names):
            np.testing.assert_array_equal(
                part.features[:, j], full.features[:t, j], err_msg=f"{name} differs at t={t}"
            )
        np.testing.assert_array_equal(part.raw, full.raw[:t], err_msg=f"raw values, t={t}")


def _leaks(compute, candles: pd.DataFrame, rows: list[int]) -> list[int]:
    """Prefix lengths at which ``compute(candles[:t])`` differs from rows < t of the full."""
    whole = compute(candles)
    return [
        t for t in rows if not np.array_equal(compute(candles.iloc[:t]), whole[:t], equal_nan=True)
    ]


def _ahead(x: np.ndarray) -> np.ndarray:
    """``x`` one bar early: row t holds row t + 1 (the deliberate look-ahead)."""
    out = np.full_like(x, np.nan)
    out[:-1] = x[1:]
    return out


def _eth(candles: pd.DataFrame, seconds: int) -> np.ndarray:
    from btcrl.data.csv_source import read_csv_candles

    eth = read_csv_candles(ETH)
    eth = eth[eth.index <= candles.index[-1]]  # what the store would hold at that time
    return align_by_close(eth, candles.index, HOUR, seconds)[0]


@pytest.mark.parametrize("look_ahead", [False, True])
def test_the_truncation_check_catches_a_one_bar_look_ahead(
    full: FeatureSet, candles: pd.DataFrame, look_ahead: bool
) -> None:
    """Each new feature computed honestly passes the prefix check; with one bar of
    look-ahead (a hidden shift, or context bars keyed on open time) it fails."""
    hmm, ffd_params = (p.values for p in full.spec.fitted)
    shift = _ahead if look_ahead else (lambda x: x)
    c = candles.iloc[-4500:]  # longer than the fracdiff window

    def col(name: str):
        return lambda frame: frame[name].to_numpy()

    features = {
        "hmm": lambda f: filtered_probabilities(shift(observations(col("close")(f), 24)), hmm),
        "fracdiff": lambda f: ffd(shift(np.log(col("close")(f))), ffd_params["d"], 1e-5),
        "parkinson": lambda f: parkinson(shift(col("high")(f)), col("low")(f), 24),
        "garman_klass": lambda f: garman_klass(
            col("open")(f), col("high")(f), col("low")(f), shift(col("close")(f)), 24
        ),
        "zscore": lambda f: rolling_zscore(shift(np.log(col("close")(f))), 24),
        # keyed on the base bar's close + one bar: the ETH bar that has not closed yet
        "context": lambda f: _eth(f, 0 if look_ahead else HOUR),
    }
    rows = list(range(4300, 4500, 23))
    for name, compute in features.items():
        leaks = _leaks(compute, c, rows)
        assert bool(leaks) == look_ahead, (name, leaks)


def test_fit_never_reads_a_row_after_fit_end(
    full: FeatureSet, candles: pd.DataFrame, data_dir: Path
) -> None:
    """Poisoning: every price after the train span is NaN, and the params do not change."""
    config = eth_config()
    fixed = build(
        candles, data_dir, config=eth_config(hmm={"enabled": False}, fracdiff={"enabled": False})
    )
    clean = fitted_module.fit_features(fixed, config, FIT_END)
    after = fixed.times > FIT_END.value
    assert after.sum() > 1000
    prices = fixed.prices.copy()
    prices[after] = np.nan
    poisoned = fitted_module.fit_features(replace(fixed, prices=prices), config, FIT_END)
    assert poisoned == clean == full.spec.fitted
    # and the span ends where asked: one bar more changes the params
    later = fitted_module.fit_features(fixed, config, FIT_END + pd.Timedelta(hours=300))
    assert later[0].values != clean[0].values and later[0].rows == clean[0].rows + 300


def test_params_round_trip_through_the_spec_and_are_used_without_refit(
    full: FeatureSet, candles: pd.DataFrame, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = FeatureSpec.from_json(full.spec.to_json())
    assert spec.fitted == full.spec.fitted
    hmm = spec.fitted[0].values
    assert hmm["transmat"] == full.spec.fitted[0].values["transmat"]  # same floats, not close
    assert spec.spec_hash == full.spec.spec_hash

    def refit(*_: object) -> dict:
        raise AssertionError("refit")

    for name, feature in fitted_module.FITTED.items():
        monkeypatch.setitem(fitted_module.FITTED, name, replace(feature, fit=refit))
    again = build(candles, data_dir, fitted=spec.fitted)
    np.testing.assert_array_equal(again.features, full.features)
    assert again.spec.fitted == full.spec.fitted
    assert full.spec.check_compatible(again.spec) == []
    with pytest.raises(AssertionError, match="refit"):
        build(candles, data_dir, fit_end=FIT_END)


def test_other_params_are_incompatible_and_missing_params_are_an_error(
    full: FeatureSet, candles: pd.DataFrame, data_dir: Path
) -> None:
    other = build(candles, data_dir, fit_end=FIT_END - pd.Timedelta(days=20))
    with pytest.raises(CompatibilityError, match="fitted feature 'hmm' differs"):
        full.spec.check_compatible(other.spec)
    with pytest.raises(ConfigError, match="features.hmm, features.fracdiff must be fitted"):
        build(candles, data_dir)
    with pytest.raises(CompatibilityError, match="fitted params are for"):
        build(candles, data_dir, fitted=full.spec.fitted[:1])
    by_day = build(candles, data_dir, config=eth_config(fit_end=FIT_END.date()))
    assert by_day.spec.fitted == full.spec.fitted  # features.fit_end: the last train day


def test_load_warns_on_overlap_and_hands_the_period_to_a_fit_end_callable(
    full: FeatureSet, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from btcrl.config.data import DataConfig
    from btcrl.features import load_feature_set

    config = eth_config()
    inside = DataConfig(data_dir=data_dir, start="2023-11-20", end="2023-12-10")
    with caplog.at_level("WARNING", logger="btcrl.features.load"):
        fs = load_feature_set(inside, config, fitted=full.spec.fitted)
    assert fs.spec.fitted == full.spec.fitted
    assert "overlaps the train span of fitted feature hmm" in caplog.text
    caplog.clear()
    after = inside.model_copy(update={"start": pd.Timestamp("2023-12-01").date()})
    with caplog.at_level("WARNING", logger="btcrl.features.load"):
        load_feature_set(after, config, fitted=full.spec.fitted)
    assert "overlaps" not in caplog.text
    seen: list[pd.Timestamp] = []

    def last_train_bar(period: FeatureSet) -> pd.Timestamp:
        seen.append(period.index[0])
        return period.index[len(period) // 2]

    fs = load_feature_set(inside, config, fit_end=last_train_bar)
    assert seen == [pd.Timestamp("2023-11-20", tz="UTC")]  # the period, not its warm-up
    assert fs.spec.fitted[0].fit_end == fs.index[len(fs) // 2].isoformat()
