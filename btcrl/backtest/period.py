"""The period a backtest covers and the FeatureSet of its bars."""

import logging
from datetime import date

from btcrl.config import ExperimentConfig
from btcrl.config.data import DataConfig
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.env.params import first_row
from btcrl.errors import ConfigError, DataError
from btcrl.features import load_feature_set
from btcrl.features.spec import FeatureSet, FittedParams

log = logging.getLogger(__name__)

MIN_STEPS = 2  # a backtest needs at least this many steps (three equity points) for metrics


def resolve_period(config: ExperimentConfig) -> tuple[date | None, date | None]:
    """``backtest.start/end``, else ``data.start/end`` (UTC days, end inclusive); ConfigError
    when end < start."""
    start = config.backtest.start or config.data.start
    end = config.backtest.end or config.data.end
    if start and end and end < start:
        raise ConfigError(f"backtest end {end} is before its start {start}")
    return start, end


def load_period_features(
    config: ExperimentConfig,
    features: FeaturesConfig,
    start: date | None,
    end: date | None,
    fitted: tuple[FittedParams, ...] = (),
    env: EnvConfig | None = None,
) -> FeatureSet:
    """The FeatureSet of ``config.data`` over ``start..end`` built with ``features`` and a
    model's ``fitted`` params (applied, never refit), with rows before ``start``: the
    ``env.window`` bars the first decision observes (its order fills at the first bar's
    open) and ``env.vol_window`` unobserved bars of history before them (the realised vol
    and the rules read their closes and signals); ``env`` defaults to ``config.env``.
    Without data before ``start`` the episode starts at its first bar and fills at the
    second. DataError when fewer than ``MIN_STEPS`` + 1 bars remain after warm-up."""
    env = env or config.env
    data = config.data.model_copy(update={"start": start, "end": end})
    try:
        fs = load_feature_set(
            data,
            features,
            fitted=fitted or None,
            lead_bars=env.window,
            history_bars=env.vol_window,
        )
    except DataError as exc:
        held = stored_span(data)
        if held is None or (start is None or start.isoformat() <= held[1][:10]):
            raise
        raise DataError(
            f"backtest period {start}..{end or 'end'} is past the store: it holds "
            f"{data.symbol} {data.timeframe} {held[0]}..{held[1]} ({exc})"
        ) from None
    last = fs.index[-1]
    if end is not None and end > last.date():  # the store stops days before --end
        log.warning(
            "backtest end %s is past the store's last %s %s bar, %s: the period ends there",
            end,
            data.symbol,
            data.timeframe,
            f"{last:%Y-%m-%d %H:%M} UTC",
        )
    usable = len(fs) - 1 - first_row(fs, env.window)
    if usable < MIN_STEPS:
        raise DataError(
            f"backtest period {start or 'start'}..{end or 'end'} has {max(usable + 1, 0)} usable "
            f"bars of {data.symbol} {data.timeframe} after warm-up; need at least {MIN_STEPS + 1}"
        )
    return fs


def stored_span(data: DataConfig) -> tuple[str, str] | None:
    """(first, last) bar open times the store holds for ``data``'s series (``YYYY-MM-DD
    HH:MM`` UTC), None when it holds none."""
    from btcrl.data.ingest import open_store

    try:
        frame = open_store(data).read()
    except (OSError, DataError):
        return None
    if frame.empty:
        return None
    return f"{frame.index[0]:%Y-%m-%d %H:%M}", f"{frame.index[-1]:%Y-%m-%d %H:%M}"
