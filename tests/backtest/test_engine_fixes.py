"""Engine fixes that computing a trend x vol-target prior exposed (issue 21, item 5), end to
end through ``run_backtest`` on the bundled sample."""

from pathlib import Path

import pytest

from btcrl.backtest import run_backtest
from btcrl.config import ExperimentConfig, load_config

from .conftest import bt_overrides


def _config(home: Path, *overrides: str) -> ExperimentConfig:
    return load_config(
        None,
        [
            *bt_overrides(home),
            "tracking.enabled=false",
            "backtest.plots=false",
            "data.start=2024-10-01",
            "data.end=2024-10-31",
            *overrides,
        ],
    )


def test_buy_and_hold_holds_all_equity_whatever_the_position_cap(bt_home: Path) -> None:
    """With 1M USD, BTC (about 60-70k USD in the sample) trades far below the equity: a cap
    of 1 BTC would hold about 6 % of it. The default has no cap, and the benchmark ignores
    one that is set, so buy-and-hold holds 1x equity either way."""
    rich = _config(bt_home, "env.initial_balance=1000000")
    assert rich.env.max_position_btc is None
    default = run_backtest(rich, policy="buy_and_hold")
    assert default.metrics["risk"]["strategy"]["max_exposure"] == pytest.approx(1.0, abs=0.01)
    capped = run_backtest(
        _config(bt_home, "env.initial_balance=1000000", "env.max_position_btc=1"),
        policy="flat",
    )
    bench = capped.metrics["risk"]["buy_and_hold"]
    assert bench["max_exposure"] == pytest.approx(1.0, abs=0.01)
    assert bench == default.metrics["risk"]["buy_and_hold"]
    strategy = capped.metrics["performance"]["buy_and_hold"]
    assert strategy == default.metrics["performance"]["buy_and_hold"]
