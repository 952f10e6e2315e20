"""CSCV probability of backtest overfitting: hand-computed logits, noise, a real edge."""

import itertools
import math

import numpy as np
import pytest

from btcrl.backtest.pbo import in_sample_masks, pbo_cscv, relative_rank
from btcrl.backtest.pbo_plot import pbo_logit_figure
from btcrl.metrics import sharpe_per_bar

LN3 = math.log(3.0)


def _mean(rows: np.ndarray) -> np.ndarray:
    return rows.mean(axis=0)


def test_hand_computed_logits_s4_three_trials() -> None:
    # per-block returns (S = 4 blocks of 2 equal rows), trials A, B, C; metric = mean
    a = [-2, 0, 2, 0]
    b = [3, 3, 1, 0]
    c = [-1, 1, -3, 0]
    returns = np.repeat(np.array([a, b, c], dtype=float).T, 2, axis=0)
    result = pbo_cscv(returns, n_partitions=4, metric=_mean)
    # in-sample blocks -> IS sums (A, B, C) -> winner -> OOS sums -> winner's rank of 3
    # {0,1}: (-2, 6, 0) B | OOS {2,3}: (2, 1, -3)  B 2nd -> w 2/4 -> logit 0
    # {0,2}: (0, 4, -4) B | OOS {1,3}: (0, 3, 1)   B 3rd -> w 3/4 -> ln 3
    # {0,3}: (-2, 3, -1) B | OOS {1,2}: (2, 4, -2) B 3rd -> ln 3
    # {1,2}: (2, 4, -2) B | OOS {0,3}: (-2, 3, -1) B 3rd -> ln 3
    # {1,3}: (0, 3, 1)  B | OOS {0,2}: (0, 4, -4)  B 3rd -> ln 3
    # {2,3}: (2, 1, -3) A | OOS {0,1}: (-2, 6, 0)  A 1st -> w 1/4 -> -ln 3
    expected = [0.0, LN3, LN3, LN3, LN3, -LN3]
    assert result.n_combinations == 6
    np.testing.assert_allclose(result.logits, expected, atol=1e-12)
    assert result.pbo == pytest.approx(2 / 6)


def test_hand_computed_two_trials_sharpe() -> None:
    # trial 0 has the higher Sharpe in blocks 0 and 1, trial 1 in blocks 2 and 3; with N = 2
    # the in-sample winner is either best (w 2/3, ln 2) or worst (w 1/3, -ln 2) out of sample
    block_a = np.array([[0.02, 0.01], [0.00, -0.01]])  # trial 0: mean .01, trial 1: mean 0
    block_b = np.array([[0.00, 0.03], [0.00, 0.01]])  # trial 0: flat,    trial 1: mean .02
    returns = np.concatenate([block_a, block_a, block_b, block_b])
    result = pbo_cscv(returns, n_partitions=4)
    # {0,1}: trial 0 wins IS, loses OOS; {2,3}: trial 1 wins IS, loses OOS; the mixed ones
    # ({0,2}, {0,3}, {1,2}, {1,3}) hold one block of each: the same data IS and OOS -> ln 2
    ln2 = math.log(2.0)
    np.testing.assert_allclose(result.logits, [-ln2, ln2, ln2, ln2, ln2, -ln2], atol=1e-12)
    assert result.pbo == pytest.approx(2 / 6)


def test_identical_trials_tie_at_the_median() -> None:
    returns = np.tile(np.random.default_rng(1).normal(0, 1, (40, 1)), (1, 3))
    result = pbo_cscv(returns, n_partitions=4)
    np.testing.assert_allclose(result.logits, 0.0)  # average rank 2 of 3 -> w 1/2
    assert result.pbo == 1.0


def test_pure_noise_is_a_coin_flip() -> None:
    values = [
        pbo_cscv(np.random.default_rng(seed).normal(0.0, 1.0, (2000, 50))).pbo for seed in range(10)
    ]
    assert 0.3 < float(np.mean(values)) < 0.7
    assert 0.3 < values[2] < 0.7


def test_a_real_edge_is_not_overfit() -> None:
    returns = np.random.default_rng(0).normal(0.0, 1.0, (2000, 50))
    returns[:, 7] += 0.3  # a per-period Sharpe of about 0.3 that persists
    result = pbo_cscv(returns)
    assert result.pbo < 0.1
    assert result.n_combinations == math.comb(16, 8) == result.logits.size


def _naive_logits(returns: np.ndarray, n_partitions: int) -> np.ndarray:
    """Independent loop over combinations, Sharpe by numpy mean/std."""
    blocks = np.array_split(np.arange(returns.shape[0]), n_partitions)
    out = []
    for chosen in itertools.combinations(range(n_partitions), n_partitions // 2):
        rows_in = np.concatenate([blocks[k] for k in chosen])
        rows_out = np.concatenate([blocks[k] for k in range(n_partitions) if k not in chosen])
        is_ = returns[rows_in].mean(0) / returns[rows_in].std(0, ddof=1)
        oos = returns[rows_out].mean(0) / returns[rows_out].std(0, ddof=1)
        best = int(np.argmax(is_))
        w = ((oos < oos[best]).sum() + 1) / (returns.shape[1] + 1)
        out.append(math.log(w / (1 - w)))
    return np.array(out)


def test_fast_sharpe_path_matches_a_naive_loop_and_the_metric_path() -> None:
    returns = np.random.default_rng(3).normal(0.001, 0.01, (403, 10))  # 403: uneven blocks
    fast = pbo_cscv(returns, n_partitions=8)
    np.testing.assert_allclose(fast.logits, _naive_logits(returns, 8), atol=1e-12)
    generic = pbo_cscv(returns, n_partitions=8, metric=sharpe_per_bar)  # type: ignore[arg-type]
    np.testing.assert_allclose(fast.logits, generic.logits, atol=1e-12)


def test_sharpe_per_bar_columns_flat_and_constant() -> None:
    values = np.array([[0.0, 0.01, 0.01], [0.0, 0.01, -0.01]])
    np.testing.assert_allclose(sharpe_per_bar(values), [0.0, np.inf, 0.0])


def test_relative_rank_and_masks() -> None:
    scores = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 1.0]])
    np.testing.assert_allclose(relative_rank(scores, np.array([2, 0])), [2 / 4, 2.5 / 4])
    masks = in_sample_masks(4)
    assert masks.shape == (6, 4) and (masks.sum(axis=1) == 2).all()
    assert masks[0].tolist() == [True, True, False, False]


@pytest.mark.parametrize(
    ("shape", "partitions", "match"),
    [
        ((100, 1), 4, "at least 2 trials"),
        ((100, 3), 5, "even"),
        ((7, 3), 4, "blocks of at least 2 rows"),
        ((100,), 4, r"\(T, N\) matrix"),
    ],
)
def test_bad_input_is_refused(shape: tuple[int, ...], partitions: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pbo_cscv(np.zeros(shape), n_partitions=partitions)


def test_non_finite_returns_are_refused() -> None:
    returns = np.zeros((40, 3))
    returns[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pbo_cscv(returns, n_partitions=4)


def test_logit_figure_shows_every_combination() -> None:
    result = pbo_cscv(np.random.default_rng(0).normal(0, 1, (400, 8)), n_partitions=8)
    fig = pbo_logit_figure(result)
    assert fig.data[0].type == "histogram"
    np.testing.assert_allclose(np.asarray(fig.data[0].x), result.logits)
    assert f"PBO {result.pbo:.1%}" in fig.layout.title.text
    assert "70 combinations" in fig.layout.title.text
