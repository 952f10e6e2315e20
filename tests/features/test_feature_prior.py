"""The trend_voltarget prior: causal (candles[:t] gives exactly rows < t), equal to a hand
computation at one decision hour, and observed as FeatureSet columns."""

import math

import numpy as np
import pandas as pd
import pytest

from btcrl.config import FeaturesConfig
from btcrl.config.features import PriorConfig
from btcrl.data.sample import load_sample
from btcrl.features import build_feature_set
from btcrl.features.load import warmup_bars
from btcrl.features.prior import PRIOR_COLUMNS, prior_columns, prior_warmup_bars

SMALL = PriorConfig(enabled=True, sma_days=(5, 10, 20), vol_window_days=7, tranches=24)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """A year of the bundled sample with two outages cut out (so time != row count)."""
    frame = load_sample().iloc[:8760]
    return frame.drop(frame.index[3000:3005]).drop(frame.index[6000:6030])


def test_prior_is_causal_at_every_sampled_prefix(sample: pd.DataFrame) -> None:
    full = prior_columns(sample, SMALL, "1h")
    rng = np.random.default_rng(0)
    cuts = {2999, 3000, 3001, 5999, 6000, 6001, *rng.integers(600, len(sample), 12).tolist()}
    for t in sorted(cuts):
        part = prior_columns(sample.iloc[:t], SMALL, "1h")
        for name in PRIOR_COLUMNS:
            np.testing.assert_array_equal(part[name], full[name][:t], err_msg=f"{name} t={t}")
    assert np.isfinite(full["prior_exposure"][-1000:]).all()


def test_one_tranche_no_band_is_the_hand_computed_daily_rule(sample: pd.DataFrame) -> None:
    config = PriorConfig(sma_days=(5, 10), vol_window_days=7, tranches=1, rebalance_band=0.0)
    out = prior_columns(sample.iloc[:2000], config, "1h")  # no gap in these rows
    midnight = sample.index[:2000].hour == 0
    daily = sample["close"].iloc[:2000][midnight].to_numpy()
    k = 30  # a midnight well after the warm-up
    trend = np.mean([daily[k] > daily[k - n + 1 : k + 1].mean() for n in (5, 10)])
    rets = np.log(daily[k - 6 : k + 1] / daily[k - 7 : k])
    scale = min(1.0, 0.30 / (rets.std() * math.sqrt(365.0)))
    row = int(np.flatnonzero(midnight)[k])
    assert out["prior_trend"][row] == pytest.approx(trend)
    assert out["prior_vol_scale"][row] == pytest.approx(scale)
    # the single tranche decides at midnight and holds that exposure for the day
    held = out["prior_exposure"][row : row + 24]
    assert held == pytest.approx(np.full(24, trend * scale))
    assert out["prior_exposure"][row + 24] != held[0] or out["prior_trend"][row + 24] == trend


def test_band_keeps_small_changes_and_bounds_the_exposure(sample: pd.DataFrame) -> None:
    loose = prior_columns(sample, SMALL.model_copy(update={"rebalance_band": 0.0}), "1h")
    banded = prior_columns(sample, SMALL.model_copy(update={"rebalance_band": 0.2}), "1h")
    live = np.isfinite(loose["prior_exposure"])
    assert (
        np.abs(np.diff(banded["prior_exposure"][live])).sum()
        < np.abs(np.diff(loose["prior_exposure"][live])).sum()
    )
    for out in (loose, banded):
        exposure = out["prior_exposure"][live]
        assert exposure.min() >= 0.0 and exposure.max() <= SMALL.exposure_cap


def test_prior_columns_are_observed_and_warm_up_is_loaded(sample: pd.DataFrame) -> None:
    config = FeaturesConfig(prior=SMALL, cache=False, strategies=(), turbulence={"enabled": False})
    fs = build_feature_set(sample, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert fs.spec.feature_names[-3:] == PRIOR_COLUMNS
    assert fs.spec.columns[-1].kind == "prior"
    assert fs.spec.columns[-1].params["sma_days_2"] == 20.0
    raw = prior_columns(sample, SMALL, "1h")["prior_exposure"]
    np.testing.assert_array_equal(fs.raw[:, fs.raw_names.index("raw_prior_exposure")], raw)
    np.testing.assert_array_equal(fs.features[:, -1], np.nan_to_num(raw).astype(np.float32))
    assert np.isnan(raw[: 19 * 24]).all()  # flat (0) while warming up: first_valid unmoved
    assert warmup_bars(config, "1h") >= prior_warmup_bars(SMALL, "1h") == 21 * 24
