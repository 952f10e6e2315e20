"""Fixed, causal normalisations of raw columns into what the agent observes.

No transform here looks at more than the row itself, its close and (for ``log1p_trailing``)
a trailing window, so normalising never leaks the future (a z-score over the whole series
would). Each transform has a name recorded in ``ColumnSpec.normalisation`` and its constants
in ``ColumnSpec.params``; ``apply_normalisation`` is the one place that interprets them.
"""

import numpy as np

from btcrl.errors import ConfigError


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` finite-or-NaN values (NaN until ``window`` rows exist)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < window:
        return out
    csum = np.cumsum(np.concatenate(([0.0], x)))  # sequential: prefix-stable
    out[window - 1 :] = (csum[window:] - csum[:-window]) / window
    return out


def apply_normalisation(
    raw: np.ndarray, close: np.ndarray, normalisation: str, params: dict[str, float]
) -> np.ndarray:
    """Normalise one raw column (float64, per bar) as its ColumnSpec says.

    - ``ratio_to_close``: ``scale * (x / close - 1)`` (price levels; scale 100 = percent)
    - ``diff_to_close``: ``scale * x / close`` (price differences such as MACD, ATR)
    - ``return``: ``scale * (x[t] / x[t-1] - 1)`` (close-to-close return)
    - ``scale``: ``(x - center) / width`` (bounded oscillators to about [-1, 1])
    - ``log1p_trailing``: ``(log1p(x) - trailing mean of log1p(x) over window) / width``
    - ``log1p``: ``log1p(max(x, 0)) / width`` (non-negative stress indices)
    - ``log_ratio``: ``log(x / ref)`` (positive levels such as VIX)
    - ``onehot`` / ``identity``: unchanged
    """
    p = params
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalisation == "ratio_to_close":
            return p["scale"] * (raw / close - 1.0)
        if normalisation == "diff_to_close":
            return p["scale"] * raw / close
        if normalisation == "return":
            prev = np.concatenate(([np.nan], raw[:-1]))
            return p["scale"] * (raw / prev - 1.0)
        if normalisation == "scale":
            return (raw - p["center"]) / p["width"]
        if normalisation == "log1p_trailing":
            logged = np.log1p(np.maximum(raw, 0.0))
            return (logged - _trailing_mean(logged, int(p["window"]))) / p["width"]
        if normalisation == "log1p":
            return np.log1p(np.maximum(raw, 0.0)) / p["width"]
        if normalisation == "log_ratio":
            return np.log(raw / p["ref"])
        if normalisation in ("onehot", "identity"):
            return raw.astype(np.float64)
    raise ConfigError(f"normalisation {normalisation!r} is unknown")
