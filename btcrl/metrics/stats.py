"""How much of a Sharpe ratio could be luck: PSR, DSR and the minimum track-record length.

Pure functions over PER-PERIOD simple returns (fractions, one per bar; never annualised).
Every Sharpe ratio here is per bar: ``mean(r) / std(r, ddof=1)``
(:func:`btcrl.metrics.sharpe_per_bar`, the one implementation); multiply by
``sqrt(periods_per_year)`` only to show it, never before passing it in.

With ``n`` returns, observed Sharpe ``SR``, skewness ``g3`` and (non-excess) kurtosis ``g4``
of the returns (population moments ``m3 / m2**1.5`` and ``m4 / m2**2``; a normal series has
``g3 = 0, g4 = 3``):

- PSR (Bailey & López de Prado 2012), the probability that the true Sharpe exceeds ``SR*``::

      PSR(SR*) = Phi((SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2))

- expected maximum of ``N`` independent trials' Sharpe ratios whose true value is 0, with
  variance ``V`` across trials (gamma = Euler-Mascheroni constant)::

      E[max SR] = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))

- DSR (Bailey & López de Prado 2014): ``PSR(E[max SR])``, the PSR of the chosen series
  against what the best of ``N`` lucky trials would show;
- minimum track-record length, the periods needed for ``PSR(SR*) >= confidence``::

      MinTRL = 1 + (1 - g3 * SR + (g4 - 1) / 4 * SR**2) * (Phi^-1(confidence) / (SR - SR*))**2

Too-short or non-finite input raises ValueError (as in ``btcrl.metrics``).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from btcrl.metrics.performance import sharpe_per_bar

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()  # standard normal: cdf = Phi, inv_cdf = Phi^-1 (no scipy import)
MIN_RETURNS = 3  # skewness and kurtosis need a few points; PSR uses sqrt(n - 1)


def _returns(returns: np.ndarray, minimum: int = MIN_RETURNS) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got shape {r.shape}")
    if r.size < minimum:
        raise ValueError(f"need at least {minimum} returns, got {r.size}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"returns hold {int((~np.isfinite(r)).sum())} non-finite values")
    return r


def moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness, kurtosis) of the returns as population moments; kurtosis is NOT excess
    (3 for a normal series). A constant series gives (0, 3), the normal values."""
    r = _returns(returns)
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 0:
        return 0.0, 3.0
    return float(np.mean(centred**3) / m2**1.5), float(np.mean(centred**4) / m2**2)


def _sharpe_variance_factor(sr: float, skew: float, kurt: float) -> float:
    """``1 - g3 * SR + (g4 - 1) / 4 * SR**2``: n x the variance of the Sharpe estimate."""
    return 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """Probability (0..1) that the true per-period Sharpe of ``returns`` exceeds
    ``benchmark_sharpe`` (per period), given their length, skewness and kurtosis.

    Raises ValueError for fewer than 3 returns or non-finite values.
    """
    r = _returns(returns)
    sr = float(sharpe_per_bar(r))
    if not math.isfinite(sr):
        return 1.0 if sr > benchmark_sharpe else 0.0
    skew, kurt = moments(r)
    factor = _sharpe_variance_factor(sr, skew, kurt)
    diff = sr - benchmark_sharpe
    if factor <= 0:  # heavy skew makes the estimate's variance vanish: certainty either way
        return 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
    return float(_NORMAL.cdf(diff * math.sqrt(r.size - 1) / math.sqrt(factor)))


def expected_max_sharpe(n_trials: float, sharpe_variance: float) -> float:
    """Expected maximum per-period Sharpe of ``n_trials`` independent trials whose true Sharpe
    is 0 and whose estimated Sharpe ratios vary with ``sharpe_variance`` (per period squared).

    0 for a single trial or no variance. Raises ValueError for ``n_trials < 1`` or a negative
    or non-finite variance.
    """
    if not (math.isfinite(n_trials) and n_trials >= 1):
        raise ValueError(f"n_trials must be a finite number >= 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise ValueError(f"sharpe_variance must be finite and >= 0, got {sharpe_variance}")
    if n_trials == 1 or sharpe_variance == 0:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


@dataclass(frozen=True)
class TrialCount:
    """What a DSR deflates by: ``n_trials`` (N, configurations tried on the same
    out-of-sample bars) and ``sharpe_variance`` (V, the variance of their per-bar Sharpe
    ratios), with ``source`` saying who counted them (``"trial ledger"``, ``"study"``, a
    benchmark), ``counted`` naming what was counted (run ids, names) and ``sharpes`` their
    per-bar Sharpe ratios in the same order."""

    n_trials: int
    sharpe_variance: float
    source: str
    counted: tuple[str, ...] = ()
    sharpes: tuple[float, ...] = ()

    @property
    def single(self) -> bool:
        """True when nothing but the chosen configuration was counted: its DSR is its PSR."""
        return self.n_trials < 2


def trial_count(sharpes: Sequence[float], source: str, counted: Sequence[str] = ()) -> TrialCount:
    """N = ``len(sharpes)`` and V = the sample variance (ddof=1) of the finite per-bar Sharpe
    ratios among them (0 with fewer than two). Raises ValueError when ``sharpes`` is empty."""
    if not len(sharpes):
        raise ValueError("no trials to count: sharpes is empty")
    finite = np.array([s for s in sharpes if math.isfinite(s)], dtype=np.float64)
    variance = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    return TrialCount(
        len(sharpes), variance, source, tuple(counted), tuple(float(v) for v in sharpes)
    )


def deflated_sharpe_ratio(returns: np.ndarray, n_trials: float, sharpe_variance: float) -> float:
    """Probability (0..1) that the chosen series' true Sharpe is above 0 once selection among
    ``n_trials`` configurations (every one tried, whose per-period Sharpe ratios have variance
    ``sharpe_variance``) is accounted for: ``PSR(expected_max_sharpe(n_trials, variance))``.

    ``returns`` are the chosen configuration's per-period simple returns.
    """
    return probabilistic_sharpe_ratio(returns, expected_max_sharpe(n_trials, sharpe_variance))


def min_track_record_length(
    returns: np.ndarray, benchmark_sharpe: float = 0.0, confidence: float = 0.95
) -> float:
    """Periods (bars) of returns with these statistics needed for PSR(``benchmark_sharpe``)
    to reach ``confidence``; ``inf`` when the observed per-period Sharpe does not exceed the
    benchmark (no length suffices).

    Raises ValueError for fewer than 3 returns or ``confidence`` outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    r = _returns(returns)
    sr = float(sharpe_per_bar(r))
    if not sr > benchmark_sharpe:
        return math.inf
    if not math.isfinite(sr):
        return 1.0
    skew, kurt = moments(r)
    factor = max(_sharpe_variance_factor(sr, skew, kurt), 0.0)
    z = _NORMAL.inv_cdf(confidence)
    return float(1.0 + factor * (z / (sr - benchmark_sharpe)) ** 2)
