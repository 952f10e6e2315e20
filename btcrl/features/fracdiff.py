"""Fixed-width fractionally differentiated log price (Lopez de Prado 2018, ch. 5).

Weights ``w_0 = 1``, ``w_k = -w_{k-1} (d - k + 1) / k``, cut at the first ``|w_k| <
threshold`` (1e-5), so the window has a fixed width ``K``; the feature at bar t is
``sum_{k<K} w_k ln(close_{t-k})`` (NaN for the first ``K - 1`` rows). Each row is one dot
product over its own window, so it is identical whatever rows follow.

Fitted param: ``d``, the smallest value of the grid whose series, over the train span (its
last ``adf_max_rows`` defined rows), makes the augmented Dickey-Fuller test (statsmodels
``adfuller``, constant, one lag) reject a unit root at ``adf_pvalue``; then the train mean
and std of the series, so the observed column is ``(ffd - mean) / std``. The search
convolves by FFT (equal up to rounding); ``transform`` uses exact per-row dot products.
When no ``d`` of the grid rejects, the largest is used (a warning).
"""

import logging
import warnings
from typing import Any

import numpy as np

from btcrl.config.features import FracDiffConfig
from btcrl.errors import DataError

logger = logging.getLogger(__name__)
MAX_WIDTH = 100_000


def ffd_weights(d: float, threshold: float) -> np.ndarray:
    """Weights ``w_0 .. w_{K-1}`` (newest first) until ``|w_k|`` drops below ``threshold``."""
    weights = [1.0]
    k = 1
    while k < MAX_WIDTH:
        w = -weights[-1] * (d - k + 1) / k
        if abs(w) < threshold:
            break
        weights.append(w)
        k += 1
    return np.asarray(weights)


def ffd(log_close: np.ndarray, d: float, threshold: float) -> np.ndarray:
    """Fractionally differentiated ``log_close`` of order ``d`` (float64, NaN in warm-up)."""
    weights = ffd_weights(d, threshold)
    out = np.full(log_close.shape[0], np.nan)
    width = weights.shape[0]
    if log_close.shape[0] >= width:
        # 'valid' convolution: out[t] = sum_k weights[k] * log_close[t - k], a dot per row
        out[width - 1 :] = np.convolve(log_close, weights, mode="valid")
    return out


def _ffd_fft(log_close: np.ndarray, d: float, threshold: float) -> np.ndarray:
    """The defined rows of ``ffd`` by FFT convolution: equal up to rounding, much faster for
    wide windows; the fit uses it, ``transform`` keeps the exact per-row dot products."""
    from scipy.signal import fftconvolve

    weights = ffd_weights(d, threshold)
    if log_close.shape[0] < weights.shape[0]:
        return np.empty(0)
    return fftconvolve(log_close, weights, mode="valid")


def _adf_pvalue(series: np.ndarray) -> float:
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(adfuller(series, maxlag=1, regression="c", autolag=None)[1])


def fit_fracdiff(close: np.ndarray, config: FracDiffConfig) -> dict[str, Any]:
    """Fitted params from the train span's closes: ``d``, ``width`` (bars), ``mean``, ``std``
    and ``adf_pvalue`` of the chosen order (over the last ``adf_max_rows`` defined rows)."""
    log_close = np.log(close)
    chosen, series, pvalue = None, np.empty(0), float("nan")
    for d in sorted(config.d_grid):
        candidate = _ffd_fft(log_close, d, config.threshold)
        if candidate.size < 50:
            continue
        chosen, series = d, candidate
        pvalue = _adf_pvalue(series[-config.adf_max_rows :])
        if pvalue < config.adf_pvalue:
            break
    if chosen is None:
        raise DataError(
            f"fracdiff: the train span ({close.shape[0]} bars) is too short for the ffd window "
            f"of d={min(config.d_grid)} ({ffd_weights(min(config.d_grid), config.threshold).size}"
            " bars) plus 50 rows; lower features.fracdiff.threshold or train on more bars"
        )
    if pvalue >= config.adf_pvalue:
        logger.warning("fracdiff: no d in the grid rejects a unit root; using d=%s", chosen)
    return {
        "d": float(chosen),
        "width": float(ffd_weights(chosen, config.threshold).size),
        "mean": float(series.mean()),
        "std": float(series.std()) or 1.0,
        "adf_pvalue": pvalue,
    }


def transform_fracdiff(close: np.ndarray, params: dict[str, Any], threshold: float) -> np.ndarray:
    """The observed column: ``(ffd(ln close, d) - mean) / std`` with the fitted params."""
    series = ffd(np.log(close), float(params["d"]), threshold)
    return (series - float(params["mean"])) / float(params["std"])
