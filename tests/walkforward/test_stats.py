"""PSR, DSR and minimum track-record length: hand-computed values and skfolio as an oracle."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from btcrl.metrics import sharpe_per_bar
from btcrl.metrics.stats import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    moments,
    probabilistic_sharpe_ratio,
)

# r = [2 %, -1 %, 2 %, -1 %]: mean 0.005, sample std sqrt(0.0003), SR = 1 / (2 sqrt 3);
# symmetric (skew 0) with every deviation +/-0.015 (kurtosis 1): the variance factor is 1.
SYMMETRIC = np.array([0.02, -0.01, 0.02, -0.01])
SR_SYMMETRIC = 1.0 / (2.0 * math.sqrt(3.0))
# r = [3 %, 0, 0]: mean 0.01, deviations 0.02, -0.01, -0.01; m2 = 0.0002, m3 = 2e-6,
# m4 = 6e-8 -> skew 1/sqrt(2), kurtosis 1.5; sample std sqrt(0.0003) -> SR = 1/sqrt(3).
SKEWED = np.array([0.03, 0.0, 0.0])
SR_SKEWED = 1.0 / math.sqrt(3.0)
Z95 = 1.6448536269514722  # Phi^-1(0.95)


def test_hand_sharpe_and_moments() -> None:
    assert sharpe_per_bar(SYMMETRIC) == pytest.approx(SR_SYMMETRIC, rel=1e-12)
    assert moments(SYMMETRIC) == pytest.approx((0.0, 1.0), abs=1e-12)
    assert sharpe_per_bar(SKEWED) == pytest.approx(SR_SKEWED, rel=1e-12)
    assert moments(SKEWED) == pytest.approx((1.0 / math.sqrt(2.0), 1.5), rel=1e-12)


def test_hand_psr() -> None:
    # symmetric: z = SR * sqrt(n - 1) / 1 = sqrt(3) / (2 sqrt 3) = 0.5
    assert probabilistic_sharpe_ratio(SYMMETRIC) == pytest.approx(0.6914624612740131, abs=1e-12)
    # skewed: factor = 1 - (1/sqrt2)(1/sqrt3) + (0.5 / 4)(1/3) = 0.633418...
    factor = 1.0 - 1.0 / math.sqrt(6.0) + 1.0 / 24.0
    z = SR_SKEWED * math.sqrt(2.0) / math.sqrt(factor)
    assert z == pytest.approx(1.025910, abs=1e-6)
    assert probabilistic_sharpe_ratio(SKEWED) == pytest.approx(norm.cdf(z), abs=1e-12)
    # a benchmark equal to the observed Sharpe is a coin flip
    assert probabilistic_sharpe_ratio(SYMMETRIC, SR_SYMMETRIC) == pytest.approx(0.5)


def test_hand_expected_max_and_dsr() -> None:
    # N = 10, V = 0.01: 0.1 * (0.4228 * Phi^-1(0.9) + 0.5772 * Phi^-1(1 - 1/(10 e)))
    gamma = 0.5772156649015329
    expected = 0.1 * ((1 - gamma) * 1.2815515655446004 + gamma * norm.ppf(1 - 1 / (10 * math.e)))
    assert norm.ppf(1 - 1 / (10 * math.e)) == pytest.approx(1.78924, abs=1e-5)
    assert expected_max_sharpe(10, 0.01) == pytest.approx(expected, rel=1e-12)
    assert expected_max_sharpe(10, 0.01) == pytest.approx(0.15747, abs=1e-4)
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    # DSR of the symmetric series with that benchmark: factor 1, z = (SR - 0.15747) sqrt 3
    dsr = deflated_sharpe_ratio(SYMMETRIC, 10, 0.01)
    assert dsr == pytest.approx(norm.cdf((SR_SYMMETRIC - expected) * math.sqrt(3.0)), abs=1e-12)
    assert dsr < probabilistic_sharpe_ratio(SYMMETRIC)  # selection always deflates


def test_hand_min_track_record_length() -> None:
    # factor 1: 1 + (1.6449 / (1 / (2 sqrt 3)))^2 = 1 + 12 * 1.6449^2 = 33.4665
    assert min_track_record_length(SYMMETRIC) == pytest.approx(1 + 12 * Z95**2, rel=1e-12)
    assert min_track_record_length(SYMMETRIC) == pytest.approx(33.4665, abs=1e-4)
    assert min_track_record_length(-SYMMETRIC) == math.inf
    assert min_track_record_length(SYMMETRIC, benchmark_sharpe=1.0) == math.inf


def test_min_trl_is_where_psr_reaches_confidence() -> None:
    """A series repeated to MinTRL periods has PSR = confidence (moments do not change)."""
    r = np.tile(SYMMETRIC, 200)
    length = min_track_record_length(r)
    sr = sharpe_per_bar(r)
    skew, kurt = moments(r)
    factor = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    assert norm.cdf(sr * math.sqrt(length - 1) / math.sqrt(factor)) == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array([0.01, 0.02]), r"need at least 3 returns, got 2"),
        (np.array([0.01, np.nan, 0.02]), r"returns hold 1 non-finite values"),
        (np.ones((3, 2)), r"returns must be one-dimensional, got shape \(3, 2\)"),
    ],
)
def test_too_short_or_bad_input_raises(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probabilistic_sharpe_ratio(bad)
    with pytest.raises(ValueError, match=message):
        min_track_record_length(bad)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="n_trials must be a finite number >= 1, got 0.5"):
        expected_max_sharpe(0.5, 0.1)
    with pytest.raises(ValueError, match="sharpe_variance must be finite and >= 0, got -0.1"):
        expected_max_sharpe(5, -0.1)
    with pytest.raises(ValueError, match=r"confidence must lie in \(0, 1\), got 1.0"):
        min_track_record_length(SYMMETRIC, confidence=1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_skfolio(seed: int) -> None:
    """skfolio (an independent implementation, tests only) agrees to 1e-10."""
    from skfolio import measures

    rng = np.random.default_rng(seed)
    returns = rng.standard_t(4, 2000) * 0.01 + 0.0008 * (seed + 1)
    trials = rng.normal(0.0, 0.03, 25)
    assert probabilistic_sharpe_ratio(returns) == pytest.approx(
        measures.probabilistic_sharpe_ratio(returns), abs=1e-10
    )
    assert probabilistic_sharpe_ratio(returns, 0.02) == pytest.approx(
        measures.probabilistic_sharpe_ratio(returns, benchmark_sharpe_ratio=0.02), abs=1e-10
    )
    variance = float(np.var(trials, ddof=1))
    assert expected_max_sharpe(25, variance) == pytest.approx(
        measures.expected_max_sharpe_ratio(25, math.sqrt(variance)), rel=1e-10
    )
    assert deflated_sharpe_ratio(returns, 25, variance) == pytest.approx(
        measures.deflated_sharpe_ratio(returns, trials), abs=1e-10
    )
