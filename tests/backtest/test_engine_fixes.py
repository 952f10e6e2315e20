"""Engine fixes that computing a trend x vol-target prior exposed (issue 21, item 5), end to
end through ``run_backtest`` on the bundled sample."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest import run_backtest
from btcrl.backtest.plan import BacktestPlan
from btcrl.backtest.runner import plan_backtest
from btcrl.config import ExperimentConfig, load_config
from btcrl.data import load_candles
from btcrl.env import TradingEnv
from btcrl.env.params import price_history_start
from btcrl.features import load_feature_set
from btcrl.policy.episode import run_episode
from btcrl.walkforward.windows import window_features

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


def test_the_first_fill_is_at_the_open_of_the_periods_first_bar(bt_home: Path) -> None:
    """The first decision is made at the close of 2024-09-30 23:00 (a bar before the period
    kept for it), so buy-and-hold buys at the open of 2024-10-01 00:00, the bar summary.json
    names as the start, and its return is the formula's from that open."""
    config = _config(bt_home, "env.slippage_bps=0")
    result = run_backtest(config, policy="buy_and_hold")
    steps = result.steps
    start = pd.Timestamp("2024-10-01", tz="UTC")
    assert steps.index[0] == start
    assert steps["fill_qty"].iloc[0] > 0.0
    assert steps["fill_price"].iloc[0] == steps["open"].iloc[0]
    assert pd.Timestamp(result.summary["period"]["first_bar"]) == start
    first_open, last_close = steps["open"].iloc[0], steps["close"].iloc[-1]
    fee = config.env.fee_rate
    expected = last_close / first_open * (1 - fee) - (1 + fee)  # bought and sold at the end
    assert result.headline["total_return"] == pytest.approx(expected, rel=1e-9)


def test_vol_targeting_reads_history_from_before_the_period(bt_home: Path) -> None:
    """On the period's first decision the realised vol is the one of the 24 bars before the
    start, exactly as a backtest that started a month earlier sees it at that bar; without
    history it would be the floor, i.e. the full ``max_leverage`` multiplier."""
    vol = ("env.target_volatility=0.5", "env.vol_window=24")
    late = plan_backtest(_config(bt_home, *vol), policy="flat")
    early = plan_backtest(_config(bt_home, *vol, "data.start=2024-09-01"), policy="flat")
    late_times, late_scales = _vol_scales(late)
    early_times, early_scales = _vol_scales(early)
    late_scale = late_scales[0]  # the period's first decision
    assert late_scale == early_scales[early_times == late_times[0]][0]
    assert late_scale < late.env.max_leverage


def _vol_scales(plan: BacktestPlan) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Each step's bar and the vol-targeting multiplier of its decision."""
    episode = run_episode(plan.features, plan.env, plan.policy)
    rows = episode.field("bar").astype(np.int64)
    return pd.to_datetime(plan.features.times[rows], utc=True), episode.field("vol_scale")


def test_training_sets_and_walk_forward_windows_keep_history(bt_home: Path) -> None:
    """A training FeatureSet and a walk-forward test window keep ``vol_window`` bars before
    their start (unobserved: ``first_valid`` is the start, or the decision bar before it),
    and a training episode that starts on the first row reads their closes."""
    config = _config(bt_home, "env.target_volatility=0.5", "env.episode_length=48")
    start = pd.Timestamp("2024-10-01", tz="UTC")
    train = load_feature_set(config.data, config.features, history_bars=24)
    assert train.first_valid == 24 and train.index[24] == start
    assert price_history_start(train) == 0
    env = TradingEnv(train, config.env, mode="train", seed=0)
    env.reset(options={"start": env.bounds.first_start})
    info = env.step(np.array([1.0, 1.0], dtype=np.float32))[4]
    assert info["vol_scale"] < config.env.max_leverage  # the vol of real history, not the floor
    candles = load_candles(config.data.model_copy(update={"start": date(2024, 9, 1)}))
    stop = pd.Timestamp("2024-10-15", tz="UTC")
    test = window_features(
        candles, config.features, config.data, start, stop, lead_bars=1, history_bars=24
    )
    assert test.first_valid == 24 and test.index[25] == start
    assert pd.Timestamp(test.spec.first_bar) == test.index[24]  # the decision bar
