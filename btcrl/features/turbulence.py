"""Turbulence: a causal market-stress index (Kritzman and Li 2010, as FinRL uses it).

For one asset, the "return vector" at bar t holds the log returns over several horizons
``h`` (bars): ``r_t = [log(close_t / close_{t-h}) for h in horizons]``. Its trailing mean
``mu_t`` and covariance ``S_t`` are estimated on the ``window`` bars *before* t
(rows ``t - window .. t - 1``), and

    turbulence_t = (r_t - mu_t)' S_t^-1 (r_t - mu_t)

is the squared Mahalanobis distance of the current move from recent behaviour (about
``len(horizons)`` on average, large in a crash or a squeeze). It reads rows <= t only.
It is defined from row ``max(horizons) + window`` on; earlier rows are NaN. A tiny ridge
(1e-9 of the mean variance) keeps ``S_t`` invertible when prices stand still.
"""

import numpy as np

from btcrl.errors import ConfigError


def return_vectors(close: np.ndarray, horizons: tuple[int, ...]) -> np.ndarray:
    """(T, A * K) log returns of each asset (column of a 2-D ``close``) over each horizon in
    bars, asset-major; NaN where the horizon reaches before row 0."""
    log_close = np.log(close.reshape(close.shape[0], -1))
    assets = log_close.shape[1]
    out = np.full((close.shape[0], assets * len(horizons)), np.nan)
    for a in range(assets):
        for j, h in enumerate(horizons):
            if h < close.shape[0]:
                out[h:, a * len(horizons) + j] = log_close[h:, a] - log_close[:-h, a]
    return out


def turbulence(close: np.ndarray, window: int, horizons: tuple[int, ...]) -> np.ndarray:
    """Squared Mahalanobis distance per bar (dimensionless, >= 0; NaN during warm-up).

    ``close``: float64 closes, (T,) or (T, A) for A assets (the multi-asset index: the
    vector holds every asset's returns; rows before every asset has a close are NaN, and the
    window starts at the first row where all have one); ``window``: trailing bars for mean
    and covariance; ``horizons``: return horizons in bars, each >= 1.
    """
    if not horizons or min(horizons) < 1:
        raise ConfigError(f"turbulence horizons {horizons!r} must be positive bar counts")
    n = close.shape[0]
    k = len(horizons) * (close.shape[1] if close.ndim == 2 else 1)
    if window < 2 * k:
        raise ConfigError(f"turbulence window {window} is too short for {k} return columns")
    out = np.full(n, np.nan)
    live = np.flatnonzero(np.isfinite(close.reshape(n, -1)).all(axis=1))
    if live.size == 0:
        return out
    close = close[live[0] :]
    start = max(horizons)  # first row with a full return vector
    first = start + window  # first row with a full trailing window before it
    if close.shape[0] <= first:
        return out
    r = return_vectors(close, horizons)[start:]  # (M, K), no NaN
    m = r.shape[0]
    # Prefix sums (sequential, so prefix-stable): c1[i] = sum r[:i], c2[i] = sum r r' [:i].
    c1 = np.zeros((m + 1, k))
    np.cumsum(r, axis=0, out=c1[1:])
    c2 = np.zeros((m + 1, k, k))
    np.cumsum(r[:, :, None] * r[:, None, :], axis=0, out=c2[1:])
    rows = np.arange(window, m)  # index into r of each bar with a full window before it
    s1 = c1[rows] - c1[rows - window]
    s2 = c2[rows] - c2[rows - window]
    mean = s1 / window
    cov = (s2 - window * mean[:, :, None] * mean[:, None, :]) / (window - 1)
    ridge = 1e-9 * np.trace(cov, axis1=1, axis2=2) / k + 1e-18
    cov = cov + ridge[:, None, None] * np.eye(k)
    dev = r[rows] - mean
    solved = np.linalg.solve(cov, dev[:, :, None])[:, :, 0]
    out[live[0] + start + window :] = np.maximum((dev * solved).sum(axis=1), 0.0)
    return out
