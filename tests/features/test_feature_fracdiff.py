"""Fixed-width fractional differencing: weights by hand, the dot per row, the order search."""

import math

import numpy as np
import pytest

from btcrl.config import FeaturesConfig
from btcrl.data.sample import load_sample
from btcrl.errors import DataError
from btcrl.features.fracdiff import _adf_pvalue, ffd, ffd_weights, fit_fracdiff


def test_weights_by_hand() -> None:
    # w_k = -w_{k-1} (d - k + 1) / k with d = 0.5: 1, -0.5, -0.125, -0.0625, -0.0390625
    np.testing.assert_allclose(ffd_weights(0.5, 1e-5)[:5], [1, -0.5, -0.125, -0.0625, -0.0390625])
    np.testing.assert_array_equal(ffd_weights(1.0, 1e-5), [1.0, -1.0])  # d = 1: first difference
    weights = ffd_weights(0.4, 1e-5)
    assert (
        abs(weights[-1]) >= 1e-5
        and abs(weights[-1] * (0.4 - weights.size + 1) / weights.size) < 1e-5
    )


def test_ffd_is_one_dot_product_per_row() -> None:
    x = np.log(np.linspace(100.0, 130.0, 400) + np.sin(np.arange(400)))
    weights = ffd_weights(0.45, 1e-3)
    out = ffd(x, 0.45, 1e-3)
    width = weights.size
    assert np.isnan(out[: width - 1]).all()
    for t in (width - 1, 200, 399):
        assert math.isclose(
            out[t], float(np.dot(weights, x[t - width + 1 : t + 1][::-1])), rel_tol=1e-12
        )
    np.testing.assert_allclose(ffd(x, 1.0, 1e-5)[1:], np.diff(x), rtol=1e-12)


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    return load_sample()["close"].to_numpy()[:12_000]


def test_fit_picks_the_smallest_order_that_rejects_a_unit_root(close: np.ndarray) -> None:
    config = FeaturesConfig(fracdiff={"enabled": True}).fracdiff
    params = fit_fracdiff(close, config)
    d = params["d"]
    assert d in config.d_grid and params["adf_pvalue"] < config.adf_pvalue
    assert params["width"] == ffd_weights(d, config.threshold).size
    for smaller in (g for g in config.d_grid if g < d):
        series = ffd(np.log(close), smaller, config.threshold)
        assert _adf_pvalue(series[np.isfinite(series)][-config.adf_max_rows :]) >= config.adf_pvalue
    assert _adf_pvalue(np.log(close)) >= config.adf_pvalue  # the price itself has a unit root
    series = ffd(np.log(close), d, config.threshold)
    assert math.isclose(params["mean"], float(np.nanmean(series)), rel_tol=1e-9)
    assert math.isclose(params["std"], float(np.nanstd(series)), rel_tol=1e-9)


def test_a_span_shorter_than_every_window_is_an_error() -> None:
    config = FeaturesConfig(fracdiff={"enabled": True, "d_grid": (0.3,)}).fracdiff
    with pytest.raises(DataError, match="too short for the ffd window"):
        fit_fracdiff(np.linspace(100.0, 101.0, 500), config)
