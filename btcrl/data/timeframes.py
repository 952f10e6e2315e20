"""Timeframe strings (``15m``, ``1h``, ``4h``, ``1d``) as durations and annualisation factors."""

import pandas as pd

from btcrl.errors import ConfigError

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
SECONDS_PER_YEAR = 365 * 86_400  # crypto trades every day of the year


def timeframe_seconds(timeframe: str) -> int:
    """Length of one bar in seconds (``"1h"`` -> 3600)."""
    try:
        count, unit = int(timeframe[:-1]), timeframe[-1]
        seconds = count * _UNIT_SECONDS[unit]
    except (ValueError, KeyError, IndexError):
        raise ConfigError(
            f"timeframe {timeframe!r} is invalid: use <n>m, <n>h, <n>d or <n>w"
        ) from None
    if count <= 0:
        raise ConfigError(f"timeframe {timeframe!r} is invalid: the count must be positive")
    return seconds


def timeframe_ms(timeframe: str) -> int:
    """Length of one bar in milliseconds."""
    return timeframe_seconds(timeframe) * 1000


def timeframe_timedelta(timeframe: str) -> pd.Timedelta:
    """Length of one bar as a pandas Timedelta."""
    return pd.Timedelta(seconds=timeframe_seconds(timeframe))


def periods_per_year(timeframe: str) -> float:
    """Bars per year for annualisation: 365 days x 24 h for crypto (8760 for ``1h``)."""
    return SECONDS_PER_YEAR / timeframe_seconds(timeframe)
