"""Tune's stitched out-of-sample figures carry the prior beside buy-and-hold."""

import numpy as np
import pytest

from btcrl.metrics import performance_metrics
from btcrl.tune.metrics import prior_metrics


def test_prior_metrics_against_itself_and_another_curve() -> None:
    rng = np.random.default_rng(0)
    prior = 100.0 * np.cumprod(np.r_[1.0, 1.0 + rng.normal(0, 0.01, 200)])
    same = prior_metrics(prior, prior, 8760.0)
    assert same["oos/excess_prior_return"] == 0.0
    assert same["oos/prior_total_return"] == pytest.approx(prior[-1] / prior[0] - 1)
    assert same["oos/prior_sharpe"] == pytest.approx(performance_metrics(prior, 8760.0)["sharpe"])
    better = prior * np.linspace(1.0, 1.1, prior.size)  # gains 10 % on the prior, steadily
    out = prior_metrics(better, prior, 8760.0)
    assert out["oos/excess_prior_return"] == pytest.approx(better[-1] / 100.0 - prior[-1] / 100.0)
    assert out["oos/excess_prior_sharpe"] > 0 and out["oos/excess_prior_psr"] > 0.5
