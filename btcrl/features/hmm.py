"""Gaussian-HMM regime probabilities, fitted on the train span, *filtered* in our own pass.

Observations per bar: ``x_t = [100 ln(C_t / C_{t-1}), ln(100 rv_t)]`` with ``rv_t`` the
population std of the last ``vol_window`` one-bar log returns (realised volatility per bar).

Fit (``fit_hmm``): hmmlearn's ``GaussianHMM`` (diagonal covariances) EM, only for the
parameters: ``restart_iter`` iterations from each seed of ``seeds`` on the last
``restart_rows`` train observations, then up to ``n_iter`` more on all of them from the
restart with the best log-likelihood. States are then put in canonical order, by the
variance of their return emission, ascending: state 0 is the calmest regime in every fit.

Transform (``filtered_probabilities``): the forward recursion in log space,

    log a_t(j) = log N(x_t; mu_j, S_j) + logsumexp_i(log a_{t-1}(i) + log A_ij),

normalised every row, so column j is p(state_t = j | x_1..x_t), the *filtered* probability.
hmmlearn's ``predict_proba`` returns smoothed posteriors p(state_t | x_1..x_T), which read the
future; it is never used. Rows without an observation (warm-up) are NaN; the recursion starts
at the first observed row with ``startprob``; a later missing row only propagates through A.
"""

import logging
import math
import warnings
from typing import Any

import numba
import numpy as np

from btcrl.config.features import HMMConfig
from btcrl.errors import DataError
from btcrl.features.volatility import log_return, rolling_mean_std

logger = logging.getLogger(__name__)
MIN_FIT_ROWS = 200


def observations(close: np.ndarray, vol_window: int) -> np.ndarray:
    """(T, 2) ``[return %, log realised vol %]``; NaN rows during warm-up."""
    ret = 100.0 * log_return(close, 1)
    vol = rolling_mean_std(ret, vol_window)[1]
    with np.errstate(divide="ignore"):
        log_vol = np.log(vol)
    log_vol[~np.isfinite(log_vol)] = np.nan
    return np.column_stack([ret, log_vol])


@numba.njit(cache=True)
def _logsumexp(v: np.ndarray) -> float:
    top = v.max()
    if not np.isfinite(top):
        return top
    acc = 0.0
    for x in v:
        acc += math.exp(x - top)
    return top + math.log(acc)


@numba.njit(cache=True)
def _forward(
    x: np.ndarray,
    log_start: np.ndarray,
    log_trans: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
) -> np.ndarray:
    n, k, dims = x.shape[0], means.shape[0], x.shape[1]
    out = np.full((n, k), np.nan)
    prev = np.full(k, np.nan)
    started = False
    buf = np.empty(k)
    for t in range(n):
        seen = True
        for m in range(dims):
            if not np.isfinite(x[t, m]):
                seen = False
        if not started and not seen:
            continue
        cur = np.empty(k)
        for j in range(k):
            if started:
                for i in range(k):
                    buf[i] = prev[i] + log_trans[i, j]
                cur[j] = _logsumexp(buf)
            else:
                cur[j] = log_start[j]
            if seen:
                for m in range(dims):
                    var = variances[j, m]
                    dev = x[t, m] - means[j, m]
                    cur[j] += -0.5 * (math.log(2.0 * math.pi * var) + dev * dev / var)
        cur -= _logsumexp(cur)
        started = True
        prev = cur
        for j in range(k):
            out[t, j] = math.exp(cur[j])
    return out


def filtered_probabilities(obs: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """(T, K) p(state_t | observations up to t) under the fitted ``params`` (see module)."""
    with np.errstate(divide="ignore"):
        return _forward(
            np.ascontiguousarray(obs, np.float64),
            np.log(np.asarray(params["startprob"], np.float64)),
            np.log(np.asarray(params["transmat"], np.float64)),
            np.asarray(params["means"], np.float64),
            np.asarray(params["variances"], np.float64),
        )


def canonical_order(params: dict[str, Any]) -> dict[str, Any]:
    """The same HMM with states sorted by return-emission variance, ascending."""
    order = np.argsort(np.asarray(params["variances"])[:, 0], kind="stable")
    trans = np.asarray(params["transmat"])[np.ix_(order, order)]
    return {
        **params,
        "startprob": np.asarray(params["startprob"])[order].tolist(),
        "transmat": trans.tolist(),
        "means": np.asarray(params["means"])[order].tolist(),
        "variances": np.asarray(params["variances"])[order].tolist(),
    }


def initial_params(obs: np.ndarray, states: int, seed: int) -> dict[str, np.ndarray]:
    """A deterministic EM start: states split the bars by realised-vol quantile (means and
    variances of each group), jittered by ``seed`` (seed 0: no jitter); sticky transitions."""
    rng = np.random.default_rng(seed)
    groups = np.array_split(obs[np.argsort(obs[:, 1], kind="stable")], states)
    means = np.array([g.mean(axis=0) for g in groups])
    variances = np.array([g.var(axis=0) for g in groups]) + 1e-6
    if seed:
        means = means + rng.normal(0.0, 0.25, means.shape) * np.sqrt(variances)
        variances = variances * rng.uniform(0.5, 2.0, variances.shape)
    trans = np.full((states, states), 0.05 / (states - 1))
    np.fill_diagonal(trans, 0.95)
    if seed:
        trans = 0.9 * trans + 0.1 * rng.dirichlet(np.ones(states), states)
    return {
        "startprob": np.full(states, 1.0 / states),
        "transmat": trans,
        "means": means,
        "variances": variances,
    }


def _em(obs: np.ndarray, config: HMMConfig, start: dict[str, np.ndarray], n_iter: int) -> Any:
    """hmmlearn EM (diagonal Gaussian emissions) for ``n_iter`` iterations from ``start``."""
    from hmmlearn.hmm import GaussianHMM
    from threadpoolctl import threadpool_limits

    model = GaussianHMM(
        n_components=config.states,
        covariance_type="diag",
        n_iter=n_iter,
        tol=config.tol,
        implementation="scaling",
        init_params="",
        params="stmc",
    )
    model.startprob_, model.transmat_ = start["startprob"], start["transmat"]
    model.means_, model.covars_ = start["means"], start["variances"]
    with warnings.catch_warnings(), threadpool_limits(1):  # tiny matrices: threads only cost
        warnings.simplefilter("ignore")
        model.fit(obs)
    return model


def _params(model: Any) -> dict[str, np.ndarray]:
    return {
        "startprob": model.startprob_,
        "transmat": model.transmat_,
        "means": model.means_,
        "variances": np.asarray(model._covars_),
    }


def fit_hmm(close: np.ndarray, config: HMMConfig) -> dict[str, Any]:
    """Fitted, canonically ordered params from the train span's closes: ``startprob`` (K,),
    ``transmat`` (K, K), ``means`` and ``variances`` (K, 2), ``log_likelihood`` and ``seed``
    (the restart kept)."""
    obs = observations(close, config.vol_window)
    obs = obs[np.isfinite(obs).all(axis=1)]
    if obs.shape[0] < MIN_FIT_ROWS:
        raise DataError(
            f"hmm: the train span has {obs.shape[0]} observed bars; need {MIN_FIT_ROWS}"
        )
    recent = obs[-config.restart_rows :]
    restarts = [
        _em(recent, config, initial_params(recent, config.states, seed), config.restart_iter)
        for seed in config.seeds
    ]
    scores = [model.monitor_.history[-1] for model in restarts]
    best = int(np.argmax(scores))
    model = _em(obs, config, _params(restarts[best]), config.n_iter)
    params = {k: v.tolist() for k, v in _params(model).items()}
    params["log_likelihood"] = float(model.monitor_.history[-1])
    params["seed"] = float(config.seeds[best])
    params["iterations"] = float(config.restart_iter + model.monitor_.iter)
    return canonical_order(params)
