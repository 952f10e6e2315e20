"""The objectives' metrics: names checked before anything runs, excess Sharpe and its floor."""

import math

import numpy as np
import pytest

from btcrl.agents.validation import VALIDATION_METRICS, score_episode
from btcrl.config import load_config
from btcrl.errors import ConfigError
from btcrl.metrics import sharpe_annualised
from btcrl.tune.metrics import OOS_METRICS, check_metrics, oos_metrics


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tune.objective=walkforward", "tune.metrics=[oos/nope]"], "not a metric of"),
        (["tune.objective=walkforward", "tune.metrics=[val/sharpe]"], "--objective holdout"),
        (["tune.objective=holdout", "tune.metrics=[oos/sharpe]"], "--objective walkforward"),
    ],
)
def test_a_metric_the_objective_does_not_produce_is_a_config_error(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_metrics(load_config(None, overrides))


def test_each_objective_defaults_to_its_own_sharpe() -> None:
    assert load_config(None, ["tune.objective=walkforward"]).tune.metrics == ("oos/sharpe",)
    assert load_config(None, ["tune.objective=holdout"]).tune.metrics == ("val/sharpe",)
    assert "val/bh_sharpe" in VALIDATION_METRICS and "oos/excess_sharpe" in OOS_METRICS


def test_validation_logs_buy_and_hold_sharpe_and_excess() -> None:
    close = np.array([101.0, 99.0, 102.0, 104.0, 103.0])
    equity = np.array([1000.0, 1005.0, 1004.0, 1010.0, 1012.0, 1011.0])
    episode = {
        "equity": equity,
        "position": np.zeros(5),
        "close": close,
        "prev_close": np.array([100.0]),
        "notional": np.zeros(5),
        "stop_hits": np.zeros(5, bool),
        "trades": np.zeros(5, np.int64),
        **{cost: np.zeros(5) for cost in ("fees", "slippage", "carry")},
    }
    metrics = score_episode(episode, 8760.0)
    bh = close / np.array([100.0, 101.0, 99.0, 102.0, 104.0]) - 1.0
    ours = equity[1:] / equity[:-1] - 1.0
    assert metrics["bh_sharpe"] == pytest.approx(sharpe_annualised(bh, 8760.0))
    assert metrics["excess_sharpe"] == pytest.approx(sharpe_annualised(ours - bh, 8760.0))


def test_oos_excess_sharpe_and_the_exposure_floor() -> None:
    bh = np.array([100.0, 102.0, 101.0, 104.0, 103.0])
    same = oos_metrics(bh, bh, np.ones(4), 8760.0)
    assert same["oos/excess_sharpe"] == 0.0  # holding buy-and-hold's position is no skill
    flat = np.full(5, 100.0)
    idle = oos_metrics(flat, bh, np.zeros(4), 8760.0)
    r = bh[1:] / bh[:-1] - 1.0
    assert idle["oos/excess_sharpe"] == pytest.approx(-r.mean() / r.std(ddof=1) * math.sqrt(8760))
    floored = oos_metrics(flat, bh, np.zeros(4), 8760.0, min_exposure=0.1)
    assert floored["oos/excess_sharpe"] == -math.inf  # never trading cannot win
    assert floored["oos/sharpe"] == idle["oos/sharpe"] and floored["oos/exposure"] == 0.0


def test_oos_sharpe_per_bar_and_annualised_are_one_ratio_in_two_units() -> None:
    equity = np.array([100.0, 102.0, 101.0, 104.0, 103.0])
    r = equity[1:] / equity[:-1] - 1.0
    m = oos_metrics(equity, equity, np.ones(4), 8760.0)
    assert m["oos/sharpe_per_bar"] == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)
    assert m["oos/sharpe"] == pytest.approx(m["oos/sharpe_per_bar"] * math.sqrt(8760), rel=1e-12)
