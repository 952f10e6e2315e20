"""The metrics each objective produces, their checks, and the out-of-sample scores.

- ``holdout``: a trial is one training run; its metrics are the validation metrics of
  ``btcrl train`` (``val/*``, :data:`btcrl.agents.validation.VALIDATION_METRICS`).
- ``walkforward``: a trial trains K inner folds and trades each fold's test window; its
  metrics are those of the stitched out-of-sample curve (``oos/*``, :data:`OOS_METRICS`).

``*/excess_sharpe`` is the Sharpe of the per-bar returns in excess of buy-and-hold's on the
same bars (annualised); with ``tune.min_exposure`` > 0 a trial whose mean |exposure| is
below the floor scores ``-inf`` on it, so a policy that never trades cannot win.
"""

import math
from collections.abc import Callable

import numpy as np

from btcrl.backtest.report import excess_group
from btcrl.backtest.selection import excess_sharpe
from btcrl.config import ExperimentConfig
from btcrl.errors import ConfigError
from btcrl.metrics import performance_metrics, sharpe_per_bar

#: stitched out-of-sample metrics of the walkforward objective (annualised ratios,
#: fractions for returns and drawdown; ``sharpe_per_bar`` is not annualised)
OOS_METRICS = tuple(
    f"oos/{name}"
    for name in (
        "sharpe",
        "sortino",
        "calmar",
        "total_return",
        "cagr",
        "max_drawdown",
        "sharpe_per_bar",
        "excess_sharpe",
        "exposure",
    )
)
EXCESS = "excess_sharpe"


def objective_metrics(objective: str) -> tuple[str, ...]:
    """The metric names a trial of ``objective`` produces."""
    if objective == "walkforward":
        return OOS_METRICS
    from btcrl.agents.validation import VALIDATION_METRICS

    return VALIDATION_METRICS


def check_metrics(config: ExperimentConfig) -> None:
    """Every tuned metric is one the objective produces; a one-line ConfigError naming it
    (and the objective that does produce it, if any) otherwise."""
    tune = config.tune
    have = objective_metrics(tune.objective)
    other = "holdout" if tune.objective == "walkforward" else "walkforward"
    for metric in tune.metrics:
        if metric in have:
            continue
        if metric in objective_metrics(other):
            raise ConfigError(
                f"tune.metrics: {metric!r} is produced by --objective {other}, not "
                f"{tune.objective} (which has {', '.join(have)})"
            )
        raise ConfigError(
            f"tune.metrics: {metric!r} is not a metric of --objective {tune.objective} "
            f"(use one of {', '.join(have)})"
        )


def floor_exposure(metrics: dict[str, float], prefix: str, min_exposure: float) -> None:
    """Set ``<prefix>excess_sharpe`` to -inf in place when ``<prefix>exposure`` (mean
    |exposure|, fraction) is below ``min_exposure`` (0 = no floor)."""
    key = f"{prefix}{EXCESS}"
    if min_exposure > 0 and key in metrics and metrics.get(f"{prefix}exposure", 0.0) < min_exposure:
        metrics[key] = -math.inf


def oos_metrics(
    equity: np.ndarray,
    bh_equity: np.ndarray,
    exposure: np.ndarray,
    periods_per_year: float,
    min_exposure: float = 0.0,
) -> dict[str, float]:
    """``oos/*`` of a stitched curve: ``equity`` (USD, one point per bar plus the start),
    buy-and-hold's over the same bars, the per-bar |exposure| (fractions, one per bar)."""
    perf = performance_metrics(equity, periods_per_year)
    returns = equity[1:] / equity[:-1] - 1.0
    bench = bh_equity[1:] / bh_equity[:-1] - 1.0
    out = {f"oos/{k}": float(perf[k]) for k in perf if f"oos/{k}" in OOS_METRICS}
    out["oos/sharpe_per_bar"] = _safe(lambda: float(sharpe_per_bar(returns)))
    scale = math.sqrt(periods_per_year)
    out["oos/excess_sharpe"] = _safe(lambda: excess_sharpe(returns, bench)) * scale
    out["oos/exposure"] = float(np.mean(np.abs(exposure))) if len(exposure) else 0.0
    floor_exposure(out, "oos/", min_exposure)
    return out


def prior_metrics(
    equity: np.ndarray, prior_equity: np.ndarray, periods_per_year: float
) -> dict[str, float]:
    """The prior (``trend_voltarget``) over the same stitched bars and the curve's excess
    over it: ``oos/prior_total_return``, ``oos/prior_sharpe`` (annualised),
    ``oos/excess_prior_return`` (difference of total returns), ``oos/excess_prior_sharpe``
    (annualised Sharpe of the per-bar return differences) and ``oos/excess_prior_psr``."""
    perf = performance_metrics(prior_equity, periods_per_year)
    excess = excess_group(equity, prior_equity, periods_per_year)
    return {
        "oos/prior_total_return": float(perf["total_return"]),
        "oos/prior_sharpe": float(perf["sharpe"]),
        **{f"oos/{k.replace('excess_', 'excess_prior_')}": v for k, v in excess.items()},
    }


def _safe(compute: Callable[[], float]) -> float:
    try:
        return float(compute())
    except ValueError:
        return math.nan
