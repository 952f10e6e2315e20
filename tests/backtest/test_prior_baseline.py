"""The prior beside every backtest: `btcrl backtest --policy trend_voltarget` prints its
figures next to buy-and-hold, and the excess over another curve is computed by hand."""

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from btcrl.backtest.report import excess_group
from btcrl.cli import main
from btcrl.metrics import sharpe_annualised
from btcrl.metrics.stats import probabilistic_sharpe_ratio

from .conftest import bt_overrides


def test_excess_group_by_hand() -> None:
    ours = np.array([100.0, 110.0, 99.0, 104.0])
    other = np.array([100.0, 105.0, 105.0, 101.0])
    diff = np.array([0.10 - 0.05, -0.10 - 0.0, 104 / 99 - 1 - (101 / 105 - 1)])
    got = excess_group(ours, other, 8760.0)
    assert got["excess_return"] == pytest.approx(0.04 - 0.01)
    assert got["excess_sharpe"] == pytest.approx(sharpe_annualised(diff, 8760.0))
    assert got["excess_psr"] == pytest.approx(probabilistic_sharpe_ratio(diff))
    assert math.isnan(excess_group(ours[:3], other[:3], 8760.0)["excess_psr"])


def test_cli_backtest_of_the_prior_prints_it_beside_buy_and_hold(bt_home: Path) -> None:
    args = ["backtest", "--policy", "trend_voltarget", "--start", "2025-02-01"]
    args += ["--end", "2025-03-31", "--set", "backtest.plots=false"]
    args += [part for item in bt_overrides(bt_home) for part in ("--set", item)]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "backtest trend_voltarget:" in out.output
    bh = next(line for line in out.output.splitlines() if "buy and hold:" in line)
    prior = next(line for line in out.output.splitlines() if "prior trend_voltarget:" in line)
    assert "max drawdown" in bh and "PSR" in bh
    assert "excess +0.00%" in prior  # the prior against itself
