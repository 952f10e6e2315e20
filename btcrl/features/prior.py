"""The ``trend_voltarget`` prior: a long/flat trend filter times a volatility target, decided
daily at each clock hour and averaged over the hourly tranches (docs/features.md "The prior").

For a decision at bar s (a clock hour of some day), with ``c`` the close sampled once a day
at that clock hour (``c[s]``, ``c[s - 1 day]``, ...):

- trend: for each lookback L in ``sma_days``, 1 if ``c[s]`` is above the mean of the last L
  daily closes (``c[s]`` included), else 0; ``prior_trend`` is their average (in [0, 1]);
- volatility: the population std of the last ``vol_window_days`` daily log returns
  ``log(c[s] / c[s - 1 day])``, annualised by sqrt(365); ``prior_vol_scale`` is
  ``min(exposure_cap, target_volatility / vol)``;
- the day's exposure of that hour's tranche is ``trend x vol scale``; a tranche keeps its
  previous exposure unless the new one differs from it by more than ``rebalance_band``;
- ``prior_exposure`` at bar s is the mean over ``tranches`` tranches, evenly spaced clock
  hours, of each tranche's exposure as last decided at or before s. With 24 tranches on 1h
  bars every hour decides one 1/24 slice, which removes the luck of one rebalance hour.

Time follows the timestamps, not the row count: the candles are put on their regular grid
first (a missing bar repeats the last close, which only the past decides), then read back at
the candles' own rows. Every value at row t uses candles <= t only (tests/features/
test_feature_prior.py computes on candles[:t] and compares exactly). Rows before the longest
SMA, the vol window and every tranche's first decision are NaN (the warm-up).
"""

import math

import numpy as np
import pandas as pd

from btcrl.config.features import PriorConfig
from btcrl.data.columns import CLOSE
from btcrl.data.timeframes import timeframe_seconds

DAYS_PER_YEAR = 365.0  # crypto trades every day
PRIOR_COLUMNS = ("prior_trend", "prior_vol_scale", "prior_exposure")
EXPOSURE_COLUMN = "prior_exposure"


def bars_per_day(timeframe: str) -> int:
    """Bars of ``timeframe`` in one day (1 for daily and longer bars)."""
    return max(1, 86_400 // timeframe_seconds(timeframe))


def prior_warmup_bars(config: PriorConfig, timeframe: str) -> int:
    """Bars of history the prior needs before its first defined value: the longest of the
    SMA and the vol window (plus one day of return), then a day for every tranche."""
    days = max(max(config.sma_days), config.vol_window_days + 1) + 1
    return days * bars_per_day(timeframe)


def prior_params(config: PriorConfig) -> dict[str, float]:
    """The prior's parameters as the float dict its ColumnSpecs carry (so a model's spec
    names the prior it was trained against, and a differing one is a CompatibilityError)."""
    out = {f"sma_days_{i}": float(d) for i, d in enumerate(config.sma_days)}
    out.update(
        target_volatility=config.target_volatility,
        vol_window_days=float(config.vol_window_days),
        exposure_cap=config.exposure_cap,
        rebalance_band=config.rebalance_band,
        tranches=float(config.tranches),
    )
    return out


def _per_phase_rolling(values: np.ndarray, day: int, window: int, how: str) -> np.ndarray:
    """Rolling ``mean`` / ``std`` (ddof 0) over ``window`` daily samples at each bar's own
    phase of the day (rows s, s - day, s - 2 day, ...); NaN until the window is full."""
    out = np.full(values.shape, np.nan)
    for phase in range(day):
        series = pd.Series(values[phase::day])
        rolled = series.rolling(window, min_periods=window)
        out[phase::day] = (rolled.mean() if how == "mean" else rolled.std(ddof=0)).to_numpy()
    return out


def _grid_close(candles: pd.DataFrame, timeframe: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(close on the regular grid from the first to the last candle, gaps repeating the last
    close; each candle's row on that grid; the first grid bar's phase of the day)."""
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    grid = pd.date_range(candles.index[0], candles.index[-1], freq=step)
    close = candles[CLOSE].reindex(grid).ffill().to_numpy(np.float64)
    rows = grid.get_indexer(candles.index)
    day = bars_per_day(timeframe)
    first_phase = int((grid[0].value // step.value) % day)
    return close, rows, first_phase


def _banded(raw: np.ndarray, day: int, band: float) -> np.ndarray:
    """Each phase's decisions with the rebalance band: a decision replaces the held value
    only when it differs by more than ``band`` (NaN decisions keep nothing)."""
    held = raw.copy()
    if band <= 0.0:
        return held
    for phase in range(day):
        seq = held[phase::day]
        last = math.nan
        for k in range(seq.shape[0]):
            value = seq[k]
            if value == value and last == last and abs(value - last) <= band:
                seq[k] = last
            last = seq[k]
    return held


def _tranche_mean(held: np.ndarray, day: int, first_phase: int, tranches: int) -> np.ndarray:
    """Mean over ``tranches`` evenly spaced phases of each one's last decision at or before
    every bar (NaN until every tranche has decided)."""
    count = min(tranches, day)
    phases = (np.arange(held.shape[0]) + first_phase) % day
    total = np.zeros(held.shape[0])
    for j in range(count):
        hour = (j * day) // count
        decided = pd.Series(np.where(phases == hour, held, np.nan))
        total += decided.ffill().to_numpy()
    return total / count


def prior_columns(
    candles: pd.DataFrame, config: PriorConfig, timeframe: str
) -> dict[str, np.ndarray]:
    """The prior's raw columns per candle row, float64 (``PRIOR_COLUMNS`` order):
    ``prior_trend`` (mean SMA signal, in [0, 1]), ``prior_vol_scale`` (in (0,
    exposure_cap]) and ``prior_exposure`` (fraction of equity, in [0, exposure_cap]); NaN
    during the warm-up."""
    close, rows, first_phase = _grid_close(candles, timeframe)
    day = bars_per_day(timeframe)
    signals = []
    for lookback in config.sma_days:
        sma = _per_phase_rolling(close, day, lookback, "mean")
        signals.append(np.where(np.isnan(sma), np.nan, (close > sma).astype(np.float64)))
    trend = np.mean(np.vstack(signals), axis=0)
    returns = np.full(close.shape, np.nan)
    returns[day:] = np.log(close[day:] / close[:-day])
    vol = _per_phase_rolling(returns, day, config.vol_window_days, "std")
    vol = vol * math.sqrt(DAYS_PER_YEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.minimum(config.exposure_cap, config.target_volatility / vol)
    raw = trend * scale
    held = _banded(raw, day, config.rebalance_band)
    exposure = _tranche_mean(held, day, first_phase, config.tranches)
    return {
        "prior_trend": trend[rows],
        "prior_vol_scale": scale[rows],
        "prior_exposure": exposure[rows],
    }
