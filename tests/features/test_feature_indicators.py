"""Indicator values against independent plain-pandas formulas (and ta) on real candles."""

import numpy as np
import pandas as pd
import pytest
from reference.features import ref_indicator
from ta.trend import ADXIndicator, CCIIndicator
from ta.volatility import AverageTrueRange

from btcrl.errors import ConfigError
from btcrl.features.indicators import compute_indicators, get_indicator
from btcrl.features.normalise import apply_normalisation

NAMES = (
    "macd",
    "boll_ub",
    "boll_lb",
    "boll_mid",
    "rsi_30",
    "rsi_14",
    "cci_30",
    "dx_30",
    "dx_14",
    "atr_14",
    "close_30_sma",
    "close_60_sma",
    "close_20_ema",
    "ao",
)


@pytest.fixture(scope="module")
def real(btc_1h: pd.DataFrame) -> pd.DataFrame:
    return btc_1h  # 4,343 bars of 2023 H1, one exchange outage inside


@pytest.mark.parametrize("name", NAMES)
def test_indicator_matches_plain_formula(real: pd.DataFrame, name: str) -> None:
    ours = compute_indicators(real, (name,))[name]
    ref = ref_indicator(real, name)
    assert ours.shape == ref.shape == (len(real),)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert np.isnan(ours).sum() <= get_indicator(name).warmup + 1
    assert np.isfinite(ours[get_indicator(name).warmup + 1 :]).all()


def test_numba_indicators_match_ta(real: pd.DataFrame) -> None:
    high, low, close = real["high"], real["low"], real["close"]
    ours = compute_indicators(real, ("cci_30", "atr_14", "dx_30"))
    cci = CCIIndicator(high, low, close, window=30).cci().to_numpy()
    np.testing.assert_allclose(ours["cci_30"], cci, rtol=1e-9, equal_nan=True)
    atr = AverageTrueRange(high, low, close, window=14).average_true_range().to_numpy()
    np.testing.assert_allclose(ours["atr_14"][13:], atr[13:], rtol=1e-12)
    adx = ADXIndicator(high, low, close, window=30)
    plus, minus = adx.adx_pos().to_numpy(), adx.adx_neg().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = 100 * np.abs(plus - minus) / (plus + minus)
    # ta leaves +DI/-DI at 0 on their first row (30); from row 31 on they must agree
    np.testing.assert_allclose(ours["dx_30"][31:], dx[31:], rtol=1e-9)


def test_normalisations_are_bounded_on_real_data(real: pd.DataFrame) -> None:
    close = real["close"].to_numpy()
    raws = compute_indicators(real, NAMES)
    for name, raw in raws.items():
        ind = get_indicator(name)
        norm = apply_normalisation(raw, close, ind.normalisation, ind.params)[ind.warmup + 1 :]
        assert np.isfinite(norm).all(), name
        assert np.abs(norm).max() < 40, name  # percent units or oscillators about [-1, 1]
        if name.startswith(("rsi", "dx")):
            assert np.abs(norm).max() <= 1.0, name


def test_unknown_or_bad_indicator_names() -> None:
    with pytest.raises(ConfigError, match="indicator 'foo_3' is unknown; known: macd"):
        get_indicator("foo_3")
    with pytest.raises(ConfigError, match="'rsi_1': the window must be at least 2"):
        get_indicator("rsi_1")
