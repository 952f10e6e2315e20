"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting",
Journal of Computational Finance 20(4). Given the per-period returns of N trials (the
configurations a study tried) over the same T bars:

1. split the T rows into S contiguous blocks (S even; sizes differ by at most one row when
   S does not divide T, ``numpy.array_split``);
2. for every one of the C(S, S/2) ways to pick S/2 blocks as the in-sample set (the other
   S/2 blocks are the out-of-sample set), score every trial on both sets;
3. take the trial n* that is best in-sample and its relative rank out-of-sample,
   ``w = rank / (N + 1)`` with rank 1 the worst of N (ties share their average rank);
4. its logit is ``ln(w / (1 - w))``: positive when the in-sample winner is above the
   out-of-sample median, <= 0 when it is at or below it.

PBO is the share of combinations whose logit is <= 0: the probability that the configuration
a selection picks in-sample does no better than the median configuration out of sample.
Pure noise gives about 0.5; a real, persistent edge gives about 0.

The default score is the per-bar Sharpe ratio (:func:`btcrl.metrics.sharpe_per_bar`: mean /
standard deviation, ddof=1, not annualised), computed from per-block sums so that all
combinations are evaluated at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

#: a score per trial: (rows, N) per-period returns -> (N,) higher is better
Metric = Callable[[np.ndarray], np.ndarray]

DEFAULT_PARTITIONS = 16


@dataclass(frozen=True)
class PBOResult:
    """``pbo``: fraction in [0, 1]; ``logits``: one per combination (C(S, S/2) of them), in
    the order of ``itertools.combinations(range(S), S // 2)`` over in-sample block sets."""

    pbo: float
    logits: np.ndarray
    n_combinations: int


def _sharpe_from_sums(sums: np.ndarray, squares: np.ndarray, count: int | np.ndarray) -> np.ndarray:
    """:func:`btcrl.metrics.sharpe_per_bar` (ddof=1) from sums and sums of squares over
    ``count`` rows: the fast path scores all C(S, S/2) combinations from per-block sums (a
    test holds it equal to ``sharpe_per_bar`` on the same rows)."""
    mean = sums / count
    var = np.maximum(squares - sums * mean, 0.0) / (np.asarray(count) - 1)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / std
    flat = std <= 1e-6 * np.abs(mean)  # zero spread up to rounding of the sums
    return np.where(flat, np.where(mean == 0.0, 0.0, np.copysign(np.inf, mean)), ratio)


def _check(returns: np.ndarray, n_partitions: int) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"returns must be a (T, N) matrix, got shape {values.shape}")
    n_rows, n_trials = values.shape
    if n_trials < 2:
        raise ValueError(f"PBO needs at least 2 trials (columns), got {n_trials}")
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"n_partitions must be even and >= 2, got {n_partitions}")
    if n_rows < 2 * n_partitions:
        raise ValueError(
            f"{n_rows} rows cannot be split into {n_partitions} blocks of at least 2 rows"
        )
    if not np.isfinite(values).all():
        raise ValueError("returns hold NaN or inf values")
    return values


def in_sample_masks(n_partitions: int) -> np.ndarray:
    """Boolean (C(S, S/2), S): row c marks the in-sample blocks of combination c."""
    half = n_partitions // 2
    chosen = np.array(list(combinations(range(n_partitions), half)), dtype=np.intp)
    masks = np.zeros((comb(n_partitions, half), n_partitions), dtype=bool)
    masks[np.arange(masks.shape[0])[:, None], chosen] = True
    return masks


def relative_rank(scores: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """``rank / (N + 1)`` of ``scores[c, picked[c]]`` within row c (rank 1 = lowest of N,
    ties averaged): in (0, 1), 0.5 is the median."""
    n_trials = scores.shape[1]
    value = scores[np.arange(scores.shape[0]), picked][:, None]
    below = (scores < value).sum(axis=1)
    ties = (scores == value).sum(axis=1) - 1
    return (below + 1 + ties / 2) / (n_trials + 1)


def _score(metric: Metric, blocks: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
    rows = np.concatenate([blocks[i] for i in np.flatnonzero(mask)])
    return np.asarray(metric(rows), dtype=np.float64)


def pbo_cscv(
    returns: np.ndarray, n_partitions: int = DEFAULT_PARTITIONS, metric: Metric | None = None
) -> PBOResult:
    """PBO of selecting the best of N trials by CSCV (module docstring).

    ``returns``: (T, N) per-period simple returns, one column per trial, rows the same bars.
    ``n_partitions``: S, even (16 by default: 12,870 combinations). ``metric``: a score per
    column, higher is better; None = per-bar Sharpe (fast path). The in-sample winner is the
    first of equal best scores. Raises ValueError for fewer than 2 trials, an odd S, fewer
    than 2 rows per block, or non-finite returns.
    """
    values = _check(returns, n_partitions)
    masks = in_sample_masks(n_partitions)
    blocks = np.array_split(values, n_partitions, axis=0)
    if metric is None:
        sums = np.stack([b.sum(axis=0) for b in blocks])
        squares = np.stack([(b**2).sum(axis=0) for b in blocks])
        counts = np.array([b.shape[0] for b in blocks], dtype=np.float64)
        inside = masks.astype(np.float64)  # float matmul runs on BLAS, bool does not
        outside = 1.0 - inside
        is_count = (inside @ counts)[:, None]
        in_sample = _sharpe_from_sums(inside @ sums, inside @ squares, is_count)
        out_sample = _sharpe_from_sums(outside @ sums, outside @ squares, counts.sum() - is_count)
    else:
        in_sample = np.stack([_score(metric, blocks, m) for m in masks])
        out_sample = np.stack([_score(metric, blocks, ~m) for m in masks])
    picked = np.argmax(in_sample, axis=1)
    w = relative_rank(out_sample, picked)
    logits = np.log(w / (1.0 - w))
    return PBOResult(float(np.mean(logits <= 0.0)), logits, int(masks.shape[0]))
