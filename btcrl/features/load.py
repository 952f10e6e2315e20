"""Load candles for a period with enough earlier history to warm the features up."""

import logging
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from btcrl.config.data import DataConfig
from btcrl.config.features import FeaturesConfig
from btcrl.data.timeframes import timeframe_seconds
from btcrl.features.build import build_feature_set
from btcrl.features.fitted import FitEnd, enabled_fitted
from btcrl.features.indicators import get_indicator
from btcrl.features.prior import prior_warmup_bars
from btcrl.features.spec import FeatureSet, FeatureSpec, FittedParams
from btcrl.strategies.base import get_strategy

WARMUP_FACTOR = 3  # recursive (EMA-like) indicators need several windows to forget their seed
WARMUP_EXTRA_BARS = 100

logger = logging.getLogger(__name__)


def warmup_bars(config: FeaturesConfig, timeframe: str) -> int:
    """Base bars of history to load before the first bar one wants to observe."""
    base = timeframe_seconds(timeframe)
    need = [config.volume_window]
    need += [get_indicator(name).warmup + 1 for name in config.indicators]
    if config.turbulence.enabled:
        need.append(config.turbulence.window + max(config.turbulence.horizons) + 1)
    for name in config.strategies:
        strategy = get_strategy(name)
        ratio = (
            1
            if strategy.timeframe is None
            else max(1, timeframe_seconds(strategy.timeframe) // base)
        )
        need.append((strategy.warmup + 1) * ratio)
    if config.context:
        need.append(max(config.context_features.window, *config.context_features.horizons) + 1)
    if config.range_volatility.enabled:
        need.append(config.range_volatility.window)
    if config.returns.enabled:
        need.append(max(*config.returns.horizons, *config.returns.zscore_windows) + 1)
    exact = [f.warmup(config) for f in enabled_fitted(config)]  # fixed-width windows
    if config.prior.enabled:  # fixed-width windows: no factor
        exact.append(prior_warmup_bars(config.prior, timeframe))
    return max([WARMUP_FACTOR * max(need), *exact]) + WARMUP_EXTRA_BARS


def load_feature_set(
    data: DataConfig,
    features: FeaturesConfig,
    *,
    fit_end: FitEnd | None = None,
    fitted: tuple[FittedParams, ...] | None = None,
    lead_bars: int = 0,
    history_bars: int = 0,
) -> FeatureSet:
    """The FeatureSet for ``data``'s period [start, end] (inclusive UTC days).

    ``fit_end`` / ``fitted``: how fitted features get their params (see
    ``build_feature_set``). A callable ``fit_end`` receives the period's rows (fixed columns
    only), so a split of them matches the later split of the result; the fit itself may also
    read the warm-up history before the period (earlier bars, never later ones). With
    ``fitted``, a period that starts at or before a fitted feature's train span end is
    logged as a warning (those rows are in-sample for it).

    Loads candles from ``btcrl.data.load_candles`` starting ``warmup_bars`` earlier (plus one
    day for daily external series) so that features are warmed up at ``data.start``, builds
    (cached under ``data.data_dir``) and returns the rows of the period; ``lead_bars`` and
    ``history_bars`` keep rows before it (:func:`build_window`: a backtest's decision bar
    before the start, and closes for the realised volatility). Its spec's ``first_bar`` /
    ``last_bar`` name that span (``data_hash`` hashes the candles built from, warm-up history
    included).
    """
    from btcrl.data import MissingCandlesError, describe_missing, store_key

    candles, history = _load_with_warmup(data, features, lead_bars + history_bars)
    start = None if data.start is None else pd.Timestamp(data.start, tz="UTC")
    end = (
        None
        if data.end is None
        else (pd.Timestamp(data.end, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1, "ns"))
    )
    times = candles.index.as_unit("ns").asi8  # (the end is a nanosecond before a day)
    first = 0 if start is None else int(np.searchsorted(times, start.value, "left"))
    stop = len(times) if end is None else int(np.searchsorted(times, end.value, "right"))
    if stop <= first:
        raise MissingCandlesError(describe_missing(data, store_key(data), history.start))
    if callable(fit_end):  # the caller splits the period's rows, as it will split the result
        split_at = fit_end
        fit_end = lambda fs: split_at(fs.between(start, end))  # noqa: E731
    part = build_window(
        candles,
        features,
        data,
        first,
        stop,
        lead_bars=min(lead_bars, first),
        history_bars=history_bars,
        build_from=0,
        fit_end=fit_end,
        fitted=fitted,
    )
    _warn_in_sample(part.spec, fitted or ())
    return part


def build_window(
    candles: pd.DataFrame,
    features: FeaturesConfig,
    data: DataConfig,
    first: int,
    stop: int,
    *,
    lead_bars: int = 0,
    history_bars: int = 0,
    build_from: int | None = None,
    fit_end: FitEnd | None = None,
    fitted: tuple[FittedParams, ...] | None = None,
) -> FeatureSet:
    """The FeatureSet of the candle rows ``[first - lead_bars, stop)`` (positions in
    ``candles``), built with warm-up: the one way every period, window and episode gets its
    features.

    Built on ``candles[build_from:stop]`` (default: from ``warmup_bars`` before the first
    kept row), so bars before the window warm the features up and nothing after it is read.
    ``lead_bars``: observed rows before ``first`` (a test window's or backtest's decision
    bar, whose order fills at ``first``'s open). Up to ``history_bars`` rows before those
    stay too, never observed: ``first_valid`` is the row ``first - lead_bars`` (later only
    while the features are not yet defined), and the engine's realised volatility and the
    rules read their closes and signals. ``spec.first_bar`` names the row ``first -
    lead_bars``, ``spec.last_bar`` the last. ``fit_end`` / ``fitted`` go to
    ``build_feature_set``.
    """
    anchor = first - lead_bars
    keep = max(0, anchor - history_bars)
    begin = max(0, anchor - max(history_bars, warmup_bars(features, data.timeframe)))
    if build_from is not None:
        begin = min(build_from, keep)
    fs = build_feature_set(
        candles.iloc[begin:stop],
        features,
        exchange=data.exchange,
        symbol=data.symbol,
        timeframe=data.timeframe,
        data_dir=data.data_dir,
        fit_end=fit_end,
        fitted=fitted,
    )
    part = fs.rows(keep - begin, len(fs))
    offset = anchor - keep
    spec = replace(
        part.spec, first_bar=part.index[offset].isoformat(), last_bar=part.index[-1].isoformat()
    )
    return replace(part, spec=spec, first_valid=max(part.first_valid, offset))


def _load_with_warmup(
    data: DataConfig, features: FeaturesConfig, extra_bars: int = 0
) -> tuple[pd.DataFrame, DataConfig]:
    """(candles from ``warmup_bars`` (at least ``extra_bars``) before ``data.start``, plus a
    day for daily external series; the DataConfig they were loaded with).
    MissingCandlesError names the asked period and the span to ingest, warm-up included."""
    from btcrl.data import MissingCandlesError, describe_missing, load_candles, store_key

    history = data
    if data.start is not None:
        bars = max(warmup_bars(features, data.timeframe), extra_bars)
        days = math.ceil(bars * timeframe_seconds(data.timeframe) / 86_400) + (
            1 if features.external else 0
        )
        history = data.model_copy(update={"start": data.start - pd.Timedelta(days=days)})
    try:
        return load_candles(history), history
    except MissingCandlesError:
        raise MissingCandlesError(
            describe_missing(data, store_key(data), fetch_start=history.start)
        ) from None


def _warn_in_sample(spec: FeatureSpec, fitted: tuple[FittedParams, ...]) -> None:
    """Warn when the period starts inside a fitted feature's train span (in-sample rows)."""
    for params in fitted:
        if pd.Timestamp(spec.first_bar) <= pd.Timestamp(params.fit_end):
            logger.warning(
                "period %s .. %s overlaps the train span of fitted feature %s (%s .. %s): "
                "its values there are in-sample",
                spec.first_bar,
                spec.last_bar,
                params.name,
                params.fit_start,
                params.fit_end,
            )
