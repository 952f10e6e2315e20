"""Candles -> FeatureSet: price block, volume, indicators, turbulence, external series,
context assets, range volatility and returns, strategy one-hots and fitted features, in
that (observation) order, each normalised causally.

Observed columns (``FeatureSpec.columns``):

- ``open_rel``, ``high_rel``, ``low_rel``: 100 * (price / close - 1) of the bar
- ``close_ret``: 100 * (close / previous close - 1)
- ``volume_log``: log1p(volume) minus its mean over the trailing ``volume_window`` bars
- one column per indicator (``btcrl.features.indicators``), normalised per indicator
- ``turbulence``: log1p(turbulence) / 4 (``btcrl.features.turbulence``), multi-asset when
  ``features.context`` names candle assets
- one column per enabled external series (``btcrl.features.external``), context ones included
- per candle context asset, ``<a>_ret_<h>``, ``_corr``, ``_beta``, ``_ratio_ret``, ``_age``
  (``btcrl.features.context``)
- ``parkinson_<w>``, ``garman_klass_<w>``, ``logret_<h>``, ``zscore_<w>``
  (``btcrl.features.volatility``) when enabled
- four 0/1 columns per strategy, ``<name>_flat|_long|_short|_hold``
- ``prior_trend``, ``prior_vol_scale``, ``prior_exposure`` when ``features.prior`` is enabled
  (``btcrl.features.prior``; unchanged values, the exposure a fraction of equity; 0 before
  the prior's warm-up is complete, which ``load_feature_set`` loads from before the period)
- fitted features (``btcrl.features.fitted``): ``hmm_p<j>``, ``ffd_close``

Every row t depends on candles <= t only (tests/features/test_feature_lookahead.py and
test_feature_fitted.py prove it on real data). ``first_valid`` is the first row after which
no column is ever NaN.
"""

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.config.data import DataConfig
from btcrl.config.features import ContextAssetConfig, ExternalSeriesConfig, FeaturesConfig
from btcrl.data.columns import CLOSE, HIGH, LOW, OHLCV, OPEN, VOLUME
from btcrl.data.external import load_external
from btcrl.data.hashing import frame_hash
from btcrl.data.timeframes import timeframe_seconds
from btcrl.errors import DataError
from btcrl.features import cache as feature_cache
from btcrl.features.context import ContextSeries, align_by_close, candle_contexts, context_columns
from btcrl.features.external import align_daily, column_name, daily_values
from btcrl.features.fitted import (
    FitEnd,
    check_fitted,
    enabled_fitted,
    fit_features,
    missing_fit,
    transform_features,
)
from btcrl.features.indicators import get_indicator
from btcrl.features.normalise import apply_normalisation
from btcrl.features.prior import PRIOR_COLUMNS, prior_columns, prior_params
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec, FittedParams
from btcrl.features.turbulence import turbulence
from btcrl.features.volatility import range_and_return_columns
from btcrl.strategies.base import SIGNAL_NAMES, get_strategy
from btcrl.strategies.signals import raw_signals, signal_onehot

logger = logging.getLogger(__name__)

PCT = {"scale": 100.0}
PRICE_COLUMNS = (
    ColumnSpec("open_rel", "price", "ratio_to_close", PCT),
    ColumnSpec("high_rel", "price", "ratio_to_close", PCT),
    ColumnSpec("low_rel", "price", "ratio_to_close", PCT),
    ColumnSpec("close_ret", "price", "return", PCT),
)
TURBULENCE_WIDTH = 4.0


Externals = list[tuple[ExternalSeriesConfig, pd.Series]]
Contexts = list[tuple[ContextAssetConfig, pd.DataFrame]]


def check_candles(candles: pd.DataFrame, timeframe: str) -> None:
    """DataError unless ``candles`` is a non-empty candle frame (btcrl.data.columns) whose
    open times lie on the ``timeframe`` grid (checked for bars of up to a day)."""
    if not isinstance(candles.index, pd.DatetimeIndex) or candles.index.tz is None:
        raise DataError("candles must be indexed by a tz-aware UTC DatetimeIndex (bar open times)")
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise DataError(f"candles lack column(s) {missing}")
    if candles.empty:
        raise DataError("candles are empty: nothing to compute features on")
    if not (candles.index.is_monotonic_increasing and candles.index.is_unique):
        raise DataError("candle times must be sorted and unique")
    if not (candles[[OPEN, HIGH, LOW, CLOSE]].to_numpy() > 0).all():
        raise DataError("candle prices must be positive")
    step = timeframe_seconds(timeframe) * 1_000_000_000
    if step <= 86_400 * 1_000_000_000:
        off = np.flatnonzero(candles.index.as_unit("ns").asi8 % step)
        if off.size:
            raise DataError(
                f"candle at {candles.index[off[0]]} is not on the {timeframe} grid "
                f"(wrong --timeframe for these candles?)"
            )


def _series_hash(series: pd.Series) -> str:
    digest = hashlib.sha256(series.index.as_unit("ns").asi8.tobytes())
    digest.update(series.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:16]


def build_feature_set(
    candles: pd.DataFrame,
    config: FeaturesConfig,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    data_dir: Path | None = None,
    fit_end: FitEnd | None = None,
    fitted: tuple[FittedParams, ...] | None = None,
) -> FeatureSet:
    """The FeatureSet of ``candles`` (bar length ``timeframe``) under ``config``.

    Fitted features (``features.hmm``, ``features.fracdiff``; ``btcrl.features.fitted``)
    need either ``fitted`` (a model's ``spec.fitted``: transform only, never a refit) or
    ``fit_end`` (the open time of the last train bar, or a callable returning it from the
    FeatureSet of the fixed columns); ``config.fit_end`` (a day) is the fallback.

    The fixed columns are cached under ``data_dir/features/<key>`` when ``data_dir`` is set
    and ``config.cache``: a hit returns the stored arrays unchanged; any change to candles,
    config, market, external or context data or feature code gives another key. Fitted
    columns are computed after the cache, from the params.
    """
    check_candles(candles, timeframe)
    candles = candles[list(OHLCV)].astype(np.float64)
    externals, contexts = _inputs(candles.index, config, exchange, timeframe, data_dir)
    key = None
    if data_dir is not None and config.cache:
        key = _cache_key(candles, config, [exchange, symbol, timeframe], externals, contexts)
    fs = feature_cache.read_cached(Path(data_dir), key) if key is not None else None  # type: ignore[arg-type]
    if fs is not None:
        logger.info("feature cache hit %s", key)
    else:
        fs = _compute(
            candles,
            config,
            externals,
            contexts,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
        )
        if key is not None:
            feature_cache.write_cached(Path(data_dir), key, fs)  # type: ignore[arg-type]
    if fitted is None and not enabled_fitted(config):
        return fs
    return _add_fitted(fs, config, fit_end, fitted)


def _inputs(
    index: pd.DatetimeIndex,
    config: FeaturesConfig,
    exchange: str,
    timeframe: str,
    data_dir: Path | None,
) -> tuple[Externals, Contexts]:
    """The enabled daily external series and the context markets' candles over ``index``."""
    wanted = list(config.external) + [
        ExternalSeriesConfig(name=c.external, source=c.external_source)
        for c in config.context
        if c.external is not None
    ]
    externals = [
        (ext, load_external(ext, index[0], index[-1], data_dir)) for ext in wanted if ext.enabled
    ]
    contexts = [
        (ctx, _load_context(ctx, index, exchange, timeframe, data_dir))
        for ctx in candle_contexts(config.context)
    ]
    return externals, contexts


def _cache_key(
    candles: pd.DataFrame,
    config: FeaturesConfig,
    market: list[str],
    externals: Externals,
    contexts: Contexts,
) -> str:
    """The feature cache key: candles, config (fitted parts excluded), market and inputs."""
    return feature_cache.cache_key(
        {
            "data_hash": frame_hash(candles),
            "config": config.model_dump(
                mode="json", exclude={"cache", "hmm", "fracdiff", "fit_end"}
            ),
            "market": market,
            "external": [_series_hash(series) for _, series in externals],
            "context": [frame_hash(frame) for _, frame in contexts],
        }
    )


def _add_fitted(
    fs: FeatureSet,
    config: FeaturesConfig,
    fit_end: FitEnd | None,
    fitted: tuple[FittedParams, ...] | None,
) -> FeatureSet:
    if fitted is None:
        if fit_end is None and config.fit_end is not None:
            fit_end = (
                pd.Timestamp(config.fit_end, tz="UTC")
                + pd.Timedelta(days=1)
                - pd.Timedelta(1, "ns")
            )
        if fit_end is None:
            raise missing_fit(config)
        fitted = fit_features(fs, config, fit_end)
    check_fitted(config, fitted)
    pairs = transform_features(fs, config, fitted)
    features = np.column_stack([fs.features] + [v.astype(np.float32) for _, v in pairs])
    columns = fs.spec.columns + tuple(c for c, _ in pairs)
    spec = replace(fs.spec, columns=columns, fitted=tuple(fitted))
    return replace(
        fs,
        spec=spec,
        features=features,
        first_valid=_first_valid(features, list(spec.feature_names)),
    )


def _load_context(
    ctx: ContextAssetConfig,
    index: pd.DatetimeIndex,
    exchange: str,
    timeframe: str,
    data_dir: Path | None,
) -> pd.DataFrame:
    """The context market's candles over the base candles' days, from the candle store."""
    from btcrl.data import load_candles

    data = DataConfig(
        source=ctx.source or "ccxt",
        exchange=ctx.exchange or exchange,
        symbol=ctx.symbol or "",
        timeframe=timeframe,
        start=index[0].date(),
        end=index[-1].date(),
        **({} if data_dir is None else {"data_dir": data_dir}),
    )
    frame = load_candles(data)
    frame = frame[frame.index <= index[-1]]  # nothing that opens after the last base bar
    return frame[list(OHLCV)].astype(np.float64)


@dataclass
class _Columns:
    """The columns of a feature set as they are added: spec, normalised values, raw values."""

    close: np.ndarray
    specs: list[ColumnSpec] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    raw: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, spec: ColumnSpec, source: np.ndarray, raw_name: str | None = None) -> None:
        """Add ``source`` normalised by ``spec`` (kept raw as ``raw_name`` when given)."""
        if raw_name is not None:
            self.raw[raw_name] = source
        self.specs.append(spec)
        self.values.append(apply_normalisation(source, self.close, spec.normalisation, spec.params))


def _compute(
    candles: pd.DataFrame,
    config: FeaturesConfig,
    externals: Externals,
    contexts: Contexts,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
) -> FeatureSet:
    out = _Columns(candles[CLOSE].to_numpy(np.float64))
    seconds = timeframe_seconds(timeframe)
    series = [
        ContextSeries(ctx.name, *align_by_close(frame, candles.index, seconds, seconds))
        for ctx, frame in contexts
    ]
    _add_market(out, candles, config)
    if config.turbulence.enabled:
        _add_turbulence(out, config, series)
    _add_externals(out, externals, candles.index, seconds)
    extra = [
        pair for one in series for pair in context_columns(out.close, one, config.context_features)
    ]
    for new_column, source in extra + range_and_return_columns(candles, config):
        out.add(new_column, source, f"raw_{new_column.name}")
    _add_strategies(out, config, candles, timeframe)
    if config.prior.enabled:
        _add_prior(out, config, candles, timeframe)
    features = np.column_stack(out.values).astype(np.float32)
    spec = FeatureSpec(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        columns=tuple(out.specs),
        indicators=tuple(config.indicators),
        external=tuple(column_name(ext.name) for ext, _ in externals),
        context=tuple(ctx.name for ctx, _ in contexts),
        strategies=tuple(config.strategies),
        data_hash=frame_hash(candles),
        first_bar=candles.index[0].isoformat(),
        last_bar=candles.index[-1].isoformat(),
    )
    return FeatureSet(
        spec=spec,
        times=candles.index.as_unit("ns").asi8.copy(),
        prices=candles[[OPEN, HIGH, LOW, CLOSE]].to_numpy(np.float64).copy(),
        volume=candles[VOLUME].to_numpy(np.float64).copy(),
        features=features,
        first_valid=_first_valid(features, [c.name for c in out.specs]),
        raw=np.column_stack(list(out.raw.values())) if out.raw else np.empty((len(candles), 0)),
        raw_names=tuple(out.raw),
    )


def _add_market(out: _Columns, candles: pd.DataFrame, config: FeaturesConfig) -> None:
    """OHLC over close, log volume, and the configured indicators."""
    for column, col in zip(PRICE_COLUMNS, (OPEN, HIGH, LOW, CLOSE), strict=True):
        out.add(column, candles[col].to_numpy(np.float64))
    volume_params = {"window": float(config.volume_window), "width": 1.0}
    out.add(
        ColumnSpec("volume_log", "volume", "log1p_trailing", volume_params),
        candles[VOLUME].to_numpy(np.float64),
    )
    for name in config.indicators:
        ind = get_indicator(name)
        spec = ColumnSpec(name, "indicator", ind.normalisation, dict(ind.params))
        out.add(spec, ind.compute(candles), f"raw_{name}")


def _add_turbulence(out: _Columns, config: FeaturesConfig, series: list[ContextSeries]) -> None:
    """Turbulence of the base asset, or of all assets when context candles are present."""
    turb = config.turbulence
    closes = np.column_stack([out.close] + [s.close for s in series])
    params = {
        "width": TURBULENCE_WIDTH,
        "window": float(turb.window),
        **{f"horizon_{i}": float(h) for i, h in enumerate(turb.horizons)},
        **({"assets": float(1 + len(series))} if series else {}),
    }
    source = turbulence(closes if series else out.close, turb.window, turb.horizons)
    out.add(ColumnSpec("turbulence", "turbulence", "log1p", params), source, "raw_turbulence")


def _add_externals(
    out: _Columns,
    externals: Externals,
    index: pd.DatetimeIndex,
    seconds: int,
) -> None:
    """Daily external series, visible only after their day closed."""
    for ext, daily in externals:
        name = column_name(ext.name)
        source = align_daily(daily_values(ext.name, daily), index, seconds)
        normalisation, params = (
            ("log_ratio", {"ref": 20.0})
            if ext.name == "vix"
            else ("scale", {"center": 0.0, "width": 1.0})
        )
        out.add(ColumnSpec(name, "external", normalisation, params), source, f"raw_{name}")


def _add_strategies(
    out: _Columns, config: FeaturesConfig, candles: pd.DataFrame, timeframe: str
) -> None:
    """Four one-hot columns per strategy; its raw codes kept as ``signal_<name>``."""
    for name in config.strategies:
        strategy = get_strategy(name)
        codes = raw_signals(strategy, candles, timeframe)
        out.raw[f"signal_{name}"] = codes.astype(np.float64)
        onehot = signal_onehot(codes)
        tf = timeframe if strategy.timeframe is None else strategy.timeframe
        params = {"timeframe_seconds": float(timeframe_seconds(tf))}
        for j, label in enumerate(SIGNAL_NAMES):
            out.specs.append(ColumnSpec(f"{name}_{label}", "signal", "onehot", params))
            out.values.append(onehot[:, j])


def _add_prior(
    out: _Columns, config: FeaturesConfig, candles: pd.DataFrame, timeframe: str
) -> None:
    """The prior's trend, vol scale and exposure, unchanged, 0 (flat) before its warm-up is
    complete as a strategy's undefined signal reads FLAT, so a short feature set keeps its
    ``first_valid`` (raw kept as ``raw_<name>``, NaN there); each ColumnSpec carries the
    prior's parameters."""
    params = prior_params(config.prior)
    columns = prior_columns(candles, config.prior, timeframe)
    for name in PRIOR_COLUMNS:
        out.raw[f"raw_{name}"] = columns[name]
        out.add(ColumnSpec(name, "prior", "identity", params), np.nan_to_num(columns[name]))


def _first_valid(features: np.ndarray, names: list[str]) -> int:
    """One past the last row holding a NaN/Inf: after it every row is fully defined."""
    bad = ~np.isfinite(features).all(axis=1)
    if not bad.any():
        return 0
    bad_rows = np.flatnonzero(bad)
    first_valid = int(bad_rows[-1]) + 1
    if first_valid >= features.shape[0]:
        raise DataError(
            f"only {features.shape[0]} candles: too few for the features' warm-up "
            f"(load more history or shorten windows)"
        )
    holes = bad_rows[bad_rows > np.flatnonzero(~bad)[0]] if (~bad).any() else []
    if len(holes):
        row = int(holes[0])
        cols = [names[j] for j in np.flatnonzero(~np.isfinite(features[row]))]
        logger.warning(
            "feature column(s) %s undefined at row %d after warm-up; first_valid moves to %d",
            cols,
            row,
            first_valid,
        )
    return first_valid
