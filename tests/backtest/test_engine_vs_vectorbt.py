"""The engine's accounting against vectorbt (an independent backtester) on real 1h data."""

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.crosscheck import order_series
from btcrl.config.env import EnvConfig
from btcrl.policy.episode import backtest_env_config, run_episode
from btcrl.policy.policies import RULE_STOP_PCT, RulePolicy

from .conftest import bare_feature_set

vbt = pytest.importorskip("vectorbt")


def _targets(n: int, seed: int) -> np.ndarray:
    """Target exposures changing every 24 bars, long and short, |a_pos| <= 0.9 (vectorbt
    limits orders to the cash it holds, the engine allows a little leverage from costs)."""
    rng = np.random.default_rng(seed)
    levels = rng.choice([-0.9, -0.5, 0.0, 0.3, 0.9], size=n // 24 + 1)
    return np.repeat(levels, 24)[:n].astype(np.float32)


@pytest.mark.parametrize(("fee", "bps", "deadzone"), [(0.001, 5.0, 0.0), (0.0004, 2.0, 0.05)])
def test_equity_matches_vectorbt_from_orders(
    real_candles: pd.DataFrame, fee: float, bps: float, deadzone: float
) -> None:
    fs = bare_feature_set(real_candles)
    config = backtest_env_config(
        EnvConfig(
            fee_rate=fee,
            slippage_bps=bps,
            exposure_deadzone=deadzone,
            max_position_btc=100.0,
            allow_short=True,  # vectorbt models no carry
            borrow_rate_annual=0.0,
            min_stop_pct=RULE_STOP_PCT,
            max_stop_pct=RULE_STOP_PCT,
        ),
        force_close=True,
    )
    targets = _targets(len(fs), 1)
    if deadzone == 0.0:  # it rebalances every bar: flat before the end, so no forced close
        targets[-2:] = 0.0
    episode = run_episode(fs, config, RulePolicy("fixed", targets))
    qty = episode.field("fill_qty")
    assert (qty != 0).sum() > 100  # a real order series, longs and shorts
    assert (episode.field("position") < 0).any() and (episode.field("position") > 0).any()
    assert not episode.field("stop_hit").any()

    # the same orders: the engine's signed BTC per bar at its reference price (the open; the
    # last close for the forced close), vectorbt adding the same slippage and fee
    size, price = order_series(episode, len(fs))
    assert episode.field("forced_close")[-1] == (deadzone > 0)
    # the recorded references are the opens (and the last close for a forced close) exactly
    reference = fs.prices[:, 0].copy()
    if deadzone > 0:
        reference[-1] = fs.prices[-1, 3]
    orders = np.isfinite(size)
    np.testing.assert_array_equal(price[orders], reference[orders])
    price = np.where(np.isnan(price), real_candles["close"].to_numpy(), price)
    portfolio = vbt.Portfolio.from_orders(
        close=real_candles["close"],
        size=size,
        size_type="amount",
        price=price,
        fees=fee,
        slippage=bps / 1e4,
        init_cash=config.initial_balance,
        direction="both",
        freq="1h",
    )
    theirs = portfolio.value().to_numpy()[episode.start_row :]
    ours = episode.equity
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0)
    # every order was filled in full by vectorbt too (no partial fill hides a difference)
    filled = portfolio.orders.records_readable["Size"].to_numpy()
    np.testing.assert_allclose(filled, np.abs(size[np.isfinite(size)]), rtol=1e-12)
