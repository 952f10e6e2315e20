"""Range-based volatility, log returns, z-scores and rolling correlation: formulas by hand.

Parkinson (1980) and Garman-Klass (1980) are checked against values computed by hand from
the published formulas on a three-bar example, and against their defining property: on
simulated Brownian paths with a known per-bar volatility, both estimate it without bias
(a wrong constant, such as 1 / 4 ln 2 read as ln 2 / 4, is off by a factor of 4.8).
"""

import math

import numpy as np
import pandas as pd

from btcrl.config import FeaturesConfig
from btcrl.features.volatility import (
    garman_klass,
    log_return,
    parkinson,
    range_and_return_columns,
    rolling_corr_beta,
    rolling_zscore,
)

# three bars: open, high, low, close
OPEN = np.array([100.0, 104.0, 101.0])
H = np.array([105.0, 106.0, 103.0])
L = np.array([99.0, 100.0, 97.0])
C = np.array([104.0, 101.0, 98.0])


def test_parkinson_by_hand() -> None:
    # ln(105/99)^2 = 0.00346220, ln(106/100)^2 = 0.00339527, ln(103/97)^2 = 0.00360216
    # window 3: sqrt((0.00346220 + 0.00339527 + 0.00360216) / 3 / (4 ln 2 = 2.7725887))
    #         = sqrt(0.00125746) = 0.0354613
    out = parkinson(H, L, 3)
    assert np.isnan(out[:2]).all()
    assert math.isclose(out[2], 0.0354613, rel_tol=1e-5)
    # window 1 on bar 0: ln(105/99) / sqrt(4 ln 2) = 0.0588405 / 1.6651092 = 0.0353373
    assert math.isclose(parkinson(H, L, 1)[0], 0.0353373, rel_tol=1e-5)


def test_garman_klass_by_hand() -> None:
    # bar 0: 0.5 ln(105/99)^2 - (2 ln 2 - 1) ln(104/100)^2
    #      = 0.5 * 0.00346220 - 0.38629436 * 0.00153826 = 0.00113688 -> sqrt = 0.0337176
    assert math.isclose(garman_klass(OPEN, H, L, C, 1)[0], 0.0337176, rel_tol=1e-5)
    # bar 1: 0.5 * 0.00339527 - 0.38629436 * ln(101/104)^2 (0.00085676) = 0.00136667
    # bar 2: 0.5 * 0.00360216 - 0.38629436 * ln(98/101)^2 (0.00090921) = 0.00144986
    # window 3: sqrt((0.00113688 + 0.00136667 + 0.00144986) / 3) = 0.0363016
    assert math.isclose(garman_klass(OPEN, H, L, C, 3)[2], 0.0363016, rel_tol=1e-5)


def test_both_estimate_a_known_volatility_without_bias() -> None:
    """Bars of 2,000 Brownian steps with per-bar sigma 1 %: both estimators find 1 % within
    3 % over 4,000 bars (sampling the path discretely biases them down by about 2 %)."""
    rng = np.random.default_rng(7)
    bars, steps, sigma = 4000, 2000, 0.01
    rel = np.cumsum(rng.normal(0.0, sigma / math.sqrt(steps), (bars, steps)), axis=1)
    log_o = np.concatenate(([0.0], np.cumsum(rel[:-1, -1])))  # each bar opens at the last close
    log_h = log_o + np.maximum(rel.max(axis=1), 0.0)
    log_l = log_o + np.minimum(rel.min(axis=1), 0.0)
    log_c = log_o + rel[:, -1]
    o, h, lo, c = (np.exp(x) for x in (log_o, log_h, log_l, log_c))
    assert abs(parkinson(h, lo, bars)[-1] / sigma - 1.0) < 0.03
    assert abs(garman_klass(o, h, lo, c, bars)[-1] / sigma - 1.0) < 0.03


def test_log_return_and_zscore_by_hand() -> None:
    close = np.array([100.0, 110.0, 99.0, 99.0])
    r = log_return(close, 2)
    assert np.isnan(r[:2]).all()
    assert math.isclose(r[2], math.log(0.99)) and math.isclose(r[3], math.log(0.9))
    # z of [1, 2, 4] at its last value: mean 7/3, population std sqrt(14/9) -> 1.0690450
    z = rolling_zscore(np.array([1.0, 2.0, 4.0, 4.0]), 3)
    assert np.isnan(z[:2]).all()
    assert math.isclose(z[2], (4 - 7 / 3) / math.sqrt(14 / 9))
    # window [2, 4, 4]: mean 10/3, std sqrt(8/9) -> (4 - 10/3) / 0.9428 = 0.7071068
    assert math.isclose(z[3], 0.7071068, rel_tol=1e-6)
    assert np.isnan(rolling_zscore(np.ones(5), 3)[2:]).all()  # zero std: undefined, not inf


def test_rolling_corr_and_beta_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = 1.7 * x + rng.normal(scale=0.5, size=300)
    corr, beta = rolling_corr_beta(x, y, 50)
    assert np.isnan(corr[:49]).all()
    for t in (49, 120, 299):
        wx, wy = x[t - 49 : t + 1], y[t - 49 : t + 1]
        assert math.isclose(corr[t], np.corrcoef(wx, wy)[0, 1], rel_tol=1e-12)
        assert math.isclose(beta[t], np.cov(wx, wy)[0, 1] / np.var(wx, ddof=1), rel_tol=1e-12)


def test_columns_are_named_and_scaled_to_percent() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    candles = pd.DataFrame(
        {"open": [*OPEN, 98.0], "high": [*H, 99.0], "low": [*L, 97.0], "close": [*C, 98.5]},
        index=index,
    )
    config = FeaturesConfig(
        range_volatility={"enabled": True, "window": 3},
        returns={"enabled": True, "horizons": (1,), "zscore_windows": (3,)},
    )
    pairs = range_and_return_columns(candles, config)
    assert [c.name for c, _ in pairs] == ["parkinson_3", "garman_klass_3", "logret_1", "zscore_3"]
    assert all(c.normalisation == "scale" for c, _ in pairs)
    assert pairs[0][0].params["width"] == 0.01  # observed in percent per bar
    assert math.isclose(pairs[0][1][2], 0.0354613, rel_tol=1e-5)
