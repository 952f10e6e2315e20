"""What model selection compares: per-bar return series, their excess over buy-and-hold, and
the ``oos_returns.csv`` file that carries a stitched out-of-sample series between runs.

All returns are per-period (per bar) simple returns as fractions, never annualised.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.metrics.performance import sharpe_per_bar

#: artifact a walk-forward (or tune) parent run writes at its artifact root
OOS_RETURNS_ARTIFACT = "oos_returns.csv"
TIME_COLUMN = "time"
RETURN_COLUMN = "return"


def excess_sharpe(
    returns: np.ndarray,
    benchmark_returns: np.ndarray,
    exposure: np.ndarray | None = None,
    min_exposure: float = 0.0,
) -> float:
    """Per-bar Sharpe (not annualised) of ``returns - benchmark_returns`` (buy-and-hold on
    the same bars).

    A policy that holds buy-and-hold's position exactly scores 0; one that stays flat scores
    minus buy-and-hold's Sharpe (a skill score: positive only where the policy did better than
    holding, e.g. by stepping aside in a falling market).

    ``exposure``: per-bar absolute exposure (|position value| / equity, fraction; 1 = fully
    invested); ``min_exposure``: the floor for its mean. Below the floor the result is
    ``-inf``, so a policy that (almost) never trades cannot win a maximisation. The floor
    needs ``exposure``. Raises ValueError on length mismatches, fewer than 2 bars, non-finite
    values, or ``min_exposure`` outside [0, 1].
    """
    values = np.asarray(returns, dtype=np.float64).ravel()
    bench = np.asarray(benchmark_returns, dtype=np.float64).ravel()
    if values.shape != bench.shape:
        raise ValueError(
            f"returns ({values.size} bars) and benchmark_returns ({bench.size} bars) differ"
        )
    if not 0.0 <= min_exposure <= 1.0:
        raise ValueError(f"min_exposure must be a fraction in [0, 1], got {min_exposure}")
    if exposure is None:
        if min_exposure > 0.0:
            raise ValueError(f"min_exposure {min_exposure} needs the per-bar exposure")
    else:
        held = np.abs(np.asarray(exposure, dtype=np.float64).ravel())
        if held.shape != values.shape:
            raise ValueError(f"exposure ({held.size} bars) and returns ({values.size}) differ")
        if float(held.mean()) < min_exposure:
            return float("-inf")
    return float(sharpe_per_bar(values - bench))


def returns_from_equity(equity: np.ndarray) -> np.ndarray:
    """Per-step simple returns of an equity curve (length n -> n - 1)."""
    values = np.asarray(equity, dtype=np.float64)
    return values[1:] / values[:-1] - 1.0


def write_oos_returns(path: Path, times: pd.DatetimeIndex, returns: np.ndarray) -> Path:
    """Write ``oos_returns.csv``: column ``time`` (ISO UTC open time of the bar whose close
    marks the return) and ``return`` (simple, fraction, from the previous bar's close).
    Written to a temp file and renamed."""
    frame = pd.DataFrame(
        {TIME_COLUMN: pd.DatetimeIndex(times).tz_convert("UTC"), RETURN_COLUMN: returns}
    )
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    tmp.replace(path)
    return path


def read_oos_returns(path: Path) -> pd.Series:
    """``oos_returns.csv`` as a float64 Series named ``return`` indexed by UTC ``time``
    (sorted, unique). Raises ValueError naming the file when a column is missing, a time
    repeats or a return is not finite."""
    frame = pd.read_csv(path)
    missing = {TIME_COLUMN, RETURN_COLUMN} - set(frame.columns)
    if missing:
        raise ValueError(f"{path.name} has no column {sorted(missing)}")
    index = pd.DatetimeIndex(pd.to_datetime(frame[TIME_COLUMN], utc=True), name=TIME_COLUMN)
    series = pd.Series(frame[RETURN_COLUMN].to_numpy(np.float64), index=index, name=RETURN_COLUMN)
    if index.has_duplicates:
        raise ValueError(f"{path.name} repeats time {index[index.duplicated()][0]}")
    if not np.isfinite(series.to_numpy()).all():
        raise ValueError(f"{path.name} holds a non-finite return")
    return series.sort_index()
