"""HMM regimes: our filtered forward pass against brute force, canonical state order, fit.

The brute force enumerates every state path of a short sequence: p(s_t = j | x_1..x_t) is
the sum of p(path, x_1..x_t) over paths of length t ending in j, divided by the sum over all
paths. It shares nothing with the log-space recursion but the model's definition.
"""

import itertools
import math

import numpy as np
import pytest

from btcrl.config import FeaturesConfig
from btcrl.data.sample import load_sample
from btcrl.features.hmm import canonical_order, filtered_probabilities, fit_hmm, observations

PARAMS = {
    "startprob": [0.5, 0.3, 0.2],
    "transmat": [[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.3, 0.2, 0.5]],
    "means": [[0.0, -1.0], [0.5, 0.0], [-1.0, 1.0]],
    "variances": [[1.0, 0.2], [0.3, 0.5], [4.0, 0.3]],
}


def _density(x: np.ndarray, state: int) -> float:
    mean, var = np.asarray(PARAMS["means"][state]), np.asarray(PARAMS["variances"][state])
    return float(np.prod(np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * math.pi * var)))


def _brute_force(x: np.ndarray) -> np.ndarray:
    k = len(PARAMS["startprob"])
    out = np.zeros((x.shape[0], k))
    for t in range(x.shape[0]):
        mass = np.zeros(k)
        for path in itertools.product(range(k), repeat=t + 1):
            p = PARAMS["startprob"][path[0]] * _density(x[0], path[0])
            for s in range(1, t + 1):
                p *= PARAMS["transmat"][path[s - 1]][path[s]] * _density(x[s], path[s])
            mass[path[-1]] += p
        out[t] = mass / mass.sum()
    return out


def test_forward_pass_equals_brute_force_filtering() -> None:
    x = np.random.default_rng(5).normal(size=(7, 2)) * [1.0, 0.8]
    ours = filtered_probabilities(x, PARAMS)
    np.testing.assert_allclose(ours, _brute_force(x), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-12)


def test_warm_up_rows_are_nan_and_the_recursion_starts_after_them() -> None:
    x = np.random.default_rng(6).normal(size=(6, 2))
    x[:2] = np.nan
    ours = filtered_probabilities(x, PARAMS)
    assert np.isnan(ours[:2]).all()
    np.testing.assert_allclose(ours[2:], _brute_force(x[2:]), rtol=1e-10)


def test_filtered_is_not_smoothed() -> None:
    """Row t does not move when later observations change (smoothed posteriors would)."""
    x = np.random.default_rng(8).normal(size=(6, 2))
    y = x.copy()
    y[4:] += 5.0
    np.testing.assert_array_equal(
        filtered_probabilities(x, PARAMS)[:4], filtered_probabilities(y, PARAMS)[:4]
    )


def test_relabelling_permutes_nothing_after_canonical_order() -> None:
    """Any permutation of the states gives the same canonical params, and its filtered
    probabilities are the same columns permuted."""
    canonical = canonical_order(PARAMS)
    assert np.all(np.diff(np.asarray(canonical["variances"])[:, 0]) > 0)  # calmest first
    x = np.random.default_rng(9).normal(size=(50, 2))
    base = filtered_probabilities(x, PARAMS)
    for perm in itertools.permutations(range(3)):
        p = np.asarray(perm)
        permuted = {
            "startprob": np.asarray(PARAMS["startprob"])[p],
            "transmat": np.asarray(PARAMS["transmat"])[np.ix_(p, p)],
            "means": np.asarray(PARAMS["means"])[p],
            "variances": np.asarray(PARAMS["variances"])[p],
        }
        np.testing.assert_allclose(filtered_probabilities(x, permuted), base[:, p], rtol=1e-12)
        again = canonical_order(permuted)
        for key in ("startprob", "transmat", "means", "variances"):
            np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(canonical[key]))


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    return load_sample()["close"].to_numpy()[:6000]


def test_fit_is_deterministic_and_canonical_on_real_data(close: np.ndarray) -> None:
    config = FeaturesConfig(hmm={"enabled": True}).hmm
    first, second = fit_hmm(close, config), fit_hmm(close, config)
    assert first == second
    assert (
        first["seed"] in config.seeds and first["iterations"] <= config.restart_iter + config.n_iter
    )
    variances = np.asarray(first["variances"])
    assert variances.shape == (4, 2) and np.all(np.diff(variances[:, 0]) > 0)
    np.testing.assert_allclose(np.asarray(first["transmat"]).sum(axis=1), 1.0)
    probs = filtered_probabilities(observations(close, config.vol_window), first)
    assert np.isnan(probs[: config.vol_window]).all()
    assert np.isfinite(probs[config.vol_window :]).all()
    # the calmest state is most likely where realised volatility is lowest
    vol = observations(close, config.vol_window)[:, 1]
    calm = vol[config.vol_window :] < np.nanquantile(vol, 0.1)
    assert probs[config.vol_window :][calm, 0].mean() > 0.5
