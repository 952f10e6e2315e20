"""Fitted features: ``fit(train closes) -> params`` and ``transform(closes, params)``.

A fitted feature (HMM regimes, the fractional-differencing order) learns something from
data, so *where* it is fitted matters: fitting on the whole history is a look-ahead leak.
The contract:

- ``fit`` sees only the bars whose open time is at or before ``fit_end``: the last bar of
  the train split of ``btcrl train`` or of a walk-forward segment's train window. Callers
  pass it explicitly (``build_feature_set(..., fit_end=)``); a callable receives the
  FeatureSet of the fixed columns and returns it (training derives it from its split).
- The params, with the span they came from, go into ``FeatureSpec.fitted`` (inline JSON)
  and so travel with every trained model.
- Backtests and walk-forward test windows pass the model's ``spec.fitted`` back in
  (``fitted=``): ``transform`` only, never a refit.
- ``transform`` is causal: row t reads closes <= t only (tests/features truncate and
  poison real data to prove both properties).

Features: ``hmm`` (``hmm_p0 .. hmm_p{K-1}``, filtered state probabilities, state 0 the
calmest) and ``fracdiff`` (``ffd_close``, standardised with its train mean and std).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from btcrl.config.features import FeaturesConfig
from btcrl.errors import CompatibilityError, ConfigError, DataError
from btcrl.features.fracdiff import ffd_weights, fit_fracdiff, transform_fracdiff
from btcrl.features.hmm import filtered_probabilities, fit_hmm, observations
from btcrl.features.spec import ColumnSpec, FeatureSet, FittedParams

FitEnd: TypeAlias = pd.Timestamp | Callable[[FeatureSet], pd.Timestamp]


@dataclass(frozen=True)
class FittedFeature:
    """One fitted feature: its observed columns, fit and transform over closes (float64)."""

    name: str
    columns: Callable[[FeaturesConfig], list[ColumnSpec]]
    fit: Callable[[np.ndarray, FeaturesConfig], dict[str, Any]]
    transform: Callable[[np.ndarray, dict[str, Any], FeaturesConfig], np.ndarray]
    warmup: Callable[[FeaturesConfig], int]


def _hmm_columns(config: FeaturesConfig) -> list[ColumnSpec]:
    return [
        ColumnSpec(f"hmm_p{j}", "fitted", "identity", {"vol_window": float(config.hmm.vol_window)})
        for j in range(config.hmm.states)
    ]


def _hmm_transform(close: np.ndarray, params: dict[str, Any], config: FeaturesConfig) -> np.ndarray:
    return filtered_probabilities(observations(close, config.hmm.vol_window), params)


def _ffd_transform(close: np.ndarray, params: dict[str, Any], config: FeaturesConfig) -> np.ndarray:
    return transform_fracdiff(close, params, config.fracdiff.threshold)[:, None]


FITTED: dict[str, FittedFeature] = {
    "hmm": FittedFeature(
        "hmm",
        _hmm_columns,
        lambda close, config: fit_hmm(close, config.hmm),
        _hmm_transform,
        lambda config: config.hmm.vol_window + 1,
    ),
    "fracdiff": FittedFeature(
        "fracdiff",
        lambda config: [
            ColumnSpec(
                "ffd_close", "fitted", "fitted_zscore", {"threshold": config.fracdiff.threshold}
            )
        ],
        lambda close, config: fit_fracdiff(close, config.fracdiff),
        _ffd_transform,
        lambda config: max(
            ffd_weights(d, config.fracdiff.threshold).size for d in config.fracdiff.d_grid
        ),
    ),
}


def enabled_fitted(config: FeaturesConfig) -> list[FittedFeature]:
    """The fitted features ``config`` turns on, in observation order."""
    return [f for f in FITTED.values() if getattr(config, f.name).enabled]


def fit_features(
    fs: FeatureSet, config: FeaturesConfig, fit_end: FitEnd
) -> tuple[FittedParams, ...]:
    """Fit every enabled fitted feature on the rows of ``fs`` with open time <= ``fit_end``
    (rows after it are never read: only ``fs.prices[:stop]`` is passed on)."""
    end = fit_end(fs) if callable(fit_end) else fit_end
    end = pd.Timestamp(end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    stop = int(np.searchsorted(fs.times, np.int64(end.value), "right"))
    if stop == 0:
        raise DataError(f"fit_end {end.isoformat()} is before the first bar {fs.index[0]}")
    close = fs.prices[:stop, 3].copy()
    start, last = fs.index[0].isoformat(), fs.index[stop - 1].isoformat()
    return tuple(
        FittedParams(f.name, start, last, stop, f.fit(close, config))
        for f in enabled_fitted(config)
    )


def check_fitted(config: FeaturesConfig, fitted: tuple[FittedParams, ...]) -> None:
    """CompatibilityError unless ``fitted`` holds exactly the enabled fitted features, in order."""
    want = [f.name for f in enabled_fitted(config)]
    have = [p.name for p in fitted]
    if want != have:
        raise CompatibilityError(f"fitted params are for {have}, the features config fits {want}")


def transform_features(
    fs: FeatureSet, config: FeaturesConfig, fitted: tuple[FittedParams, ...]
) -> list[tuple[ColumnSpec, np.ndarray]]:
    """The observed (ColumnSpec, float64 column) pairs of the fitted features, from params."""
    close = fs.prices[:, 3]
    out = []
    for feature, params in zip(enabled_fitted(config), fitted, strict=True):
        values = feature.transform(close, params.values, config)
        out += list(zip(feature.columns(config), values.T, strict=True))
    return out


def missing_fit(config: FeaturesConfig) -> ConfigError:
    """The error for fitted features asked for without a train span or params."""
    names = ", ".join(f"features.{f.name}" for f in enabled_fitted(config))
    return ConfigError(
        f"{names} must be fitted on a train span: pass fit_end= (the last train bar) or the "
        "model's spec.fitted, or set features.fit_end (last train day)"
    )
