"""excess_sharpe and the oos_returns.csv format, on hand-computed values."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.selection import (
    excess_sharpe,
    read_oos_returns,
    returns_from_equity,
    write_oos_returns,
)
from btcrl.metrics import sharpe_per_bar


def test_sharpe_per_bar_by_hand() -> None:
    # mean 0.02, sample std sqrt(((0.01)^2 + 0 + (0.01)^2) / 2) = 0.01
    assert sharpe_per_bar(np.array([0.01, 0.02, 0.03])) == pytest.approx(2.0)
    assert sharpe_per_bar(np.zeros(5)) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        sharpe_per_bar(np.array([0.1]))


def test_excess_sharpe_by_hand() -> None:
    policy = np.array([0.03, 0.01, 0.02, 0.00])
    market = np.array([0.01, 0.01, -0.01, 0.01])
    # excess (0.02, 0, 0.03, -0.01): mean 0.01, sample var (1 + 1 + 4 + 4)e-4 / 3
    expected = 0.01 / math.sqrt(10e-4 / 3)
    assert excess_sharpe(policy, market) == pytest.approx(expected)


def test_holding_the_market_scores_zero_and_flat_scores_minus_the_market() -> None:
    market = np.random.default_rng(0).normal(0.001, 0.01, 500)
    assert excess_sharpe(market, market) == 0.0
    assert excess_sharpe(np.zeros(500), market) == pytest.approx(-sharpe_per_bar(market))


def test_exposure_floor() -> None:
    market = np.array([0.01, -0.02, 0.03, 0.01])
    policy = np.array([0.0, 0.0, 0.0, 0.002])
    exposure = np.array([0.0, 0.0, 0.0, 0.2])  # mean |exposure| 0.05
    assert excess_sharpe(policy, market, exposure, min_exposure=0.1) == -math.inf
    passed = excess_sharpe(policy, market, exposure, min_exposure=0.05)
    assert passed == pytest.approx(sharpe_per_bar(policy - market))
    short = -exposure  # shorts count as exposure too
    assert excess_sharpe(policy, market, short, min_exposure=0.05) == pytest.approx(passed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"benchmark_returns": np.zeros(3)}, "differ"),
        ({"min_exposure": 0.1}, "needs the per-bar exposure"),
        ({"exposure": np.ones(4), "min_exposure": 1.5}, r"fraction in \[0, 1\]"),
        ({"exposure": np.ones(3)}, "exposure"),
    ],
)
def test_excess_sharpe_bad_input(kwargs: dict, match: str) -> None:
    args = {"returns": np.ones(4) * 0.01, "benchmark_returns": np.zeros(4), **kwargs}
    with pytest.raises(ValueError, match=match):
        excess_sharpe(**args)


def test_returns_from_equity() -> None:
    np.testing.assert_allclose(returns_from_equity(np.array([100.0, 110.0, 99.0])), [0.1, -0.1])


def test_oos_returns_round_trip(tmp_path: Path) -> None:
    times = pd.date_range("2024-03-01", periods=4, freq="1h", tz="UTC")
    values = np.array([0.01, -0.005, 0.0, 1e-9])
    path = write_oos_returns(tmp_path / "oos_returns.csv", times, values)
    assert path.read_text().splitlines()[:2] == ["time,return", "2024-03-01T00:00:00+0000,0.01"]
    series = read_oos_returns(path)
    assert series.index.equals(pd.DatetimeIndex(times, name="time"))
    np.testing.assert_array_equal(series.to_numpy(), values)


def test_oos_returns_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "oos_returns.csv"
    path.write_text("time,ret\n2024-01-01T00:00:00Z,0.1\n")
    with pytest.raises(ValueError, match="no column"):
        read_oos_returns(path)
    path.write_text("time,return\n2024-01-01T00:00:00Z,0.1\n2024-01-01T00:00:00Z,0.2\n")
    with pytest.raises(ValueError, match="repeats"):
        read_oos_returns(path)
