"""Stop-losses against vectorbt and a plain re-check of every trigger, on real 1h data.

tests/backtest/test_engine_vs_vectorbt.py keeps stops out of reach; here they are tight (2-3 %
of the entry) so that dozens fire, long and short. Two independent checks:

1. vectorbt replays the engine's fills (orders at the open, stops at the stop price or at a
   gapped open, the forced close) with the same fee and slippage and must reproduce the
   equity curve to 1e-9. A re-entry can be stopped out in its own bar (two fills in one
   bar), so each bar becomes two vectorbt rows: the order at the open, then the stop or
   forced close; equity is compared at the second row of each bar;
2. plain numpy over the candles decides, bar by bar, whether the position carried into the
   bar (or opened at its open) had its stop touched (long: low <= stop, short: high >= stop)
   and at which reference price it fills (the stop, or the open when the bar gaps through).
"""

import numpy as np
import pandas as pd
import pytest

from btcrl.config.env import EnvConfig
from btcrl.policy.episode import Episode, backtest_env_config, run_episode
from btcrl.policy.policies import RulePolicy

from .conftest import bare_feature_set

vbt = pytest.importorskip("vectorbt")

FEE = 0.001
BPS = 5.0


def _targets(n: int, seed: int) -> np.ndarray:
    """Target exposures changing every 24 bars, long and short, |a_pos| <= 0.9."""
    rng = np.random.default_rng(seed)
    levels = rng.choice([-0.9, -0.5, 0.0, 0.5, 0.9], size=n // 24 + 1)
    return np.repeat(levels, 24)[:n].astype(np.float32)


def _episode(candles: pd.DataFrame, stop_pct: float, seed: int):  # noqa: ANN202
    fs = bare_feature_set(candles)
    config = backtest_env_config(
        EnvConfig(
            fee_rate=FEE,
            slippage_bps=BPS,
            exposure_deadzone=0.05,
            max_position_btc=100.0,
            allow_short=True,  # vectorbt models no carry
            borrow_rate_annual=0.0,
            min_stop_pct=stop_pct,
            max_stop_pct=stop_pct,
        ),
        force_close=True,
    )
    return fs, config, run_episode(fs, config, RulePolicy("fixed", _targets(len(fs), seed)))


@pytest.mark.parametrize(("stop_pct", "seed"), [(0.02, 3), (0.03, 5)])
def test_equity_with_stop_losses_matches_vectorbt(
    real_candles: pd.DataFrame, stop_pct: float, seed: int
) -> None:
    fs, config, episode = _episode(real_candles, stop_pct, seed)
    hit = episode.field("stop_hit")
    stop_qty = episode.field("stop_fill_qty")
    assert hit.sum() >= 10 and (stop_qty > 0).any() and (stop_qty < 0).any()  # shorts, longs
    size, price = _two_rows_per_bar(episode, len(fs))
    assert (np.isfinite(size[0::2]) & np.isfinite(size[1::2])).any()  # order + stop, one bar
    close = np.repeat(real_candles["close"].to_numpy(), 2)
    price = np.where(np.isnan(price), close, price)
    index = pd.date_range(real_candles.index[0], periods=2 * len(fs), freq="30min")
    portfolio = vbt.Portfolio.from_orders(
        close=pd.Series(close, index=index),
        size=size,
        size_type="amount",
        price=price,
        fees=FEE,
        slippage=BPS / 1e4,
        init_cash=config.initial_balance,
        direction="both",
        freq="30min",
    )
    theirs = portfolio.value().to_numpy()[1::2][episode.start_row :]
    np.testing.assert_allclose(episode.equity, theirs, rtol=1e-9, atol=0)
    filled = portfolio.orders.records_readable["Size"].to_numpy()
    np.testing.assert_allclose(filled, np.abs(size[np.isfinite(size)]), rtol=1e-12)


def _two_rows_per_bar(episode: Episode, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed BTC and reference price (slippage removed) on 2 rows per bar: row 2b the order
    at the open, row 2b+1 the stop or forced close (NaN: no fill)."""
    slip = BPS / 1e4
    bars = episode.field("bar").astype(np.int64)
    size = np.full(2 * n_rows, np.nan)
    price = np.full(2 * n_rows, np.nan)
    kinds = (("fill_qty", "fill_price", 0), ("stop_fill_qty", "stop_fill_price", 1))
    for qty_name, price_name, offset in (*kinds, ("close_fill_qty", "close_fill_price", 1)):
        qty, paid = episode.field(qty_name), episode.field(price_name)
        filled = qty != 0
        rows = 2 * bars[filled] + offset
        assert np.isnan(size[rows]).all()  # a stop and a forced close never share a bar
        size[rows] = qty[filled]
        price[rows] = np.where(qty > 0, paid / (1 + slip), paid / (1 - slip))[filled]
    return size, price


@pytest.mark.parametrize(("stop_pct", "seed"), [(0.02, 3), (0.03, 5)])
def test_every_stop_trigger_and_price_rechecked(
    real_candles: pd.DataFrame, stop_pct: float, seed: int
) -> None:
    _, _, episode = _episode(real_candles, stop_pct, seed)
    bars = episode.field("bar").astype(np.int64)
    o, h, lo = (real_candles[c].to_numpy()[bars] for c in ("open", "high", "low"))
    position, stop = episode.field("position"), episode.field("stop_price")
    hit, order = episode.field("stop_hit"), episode.field("fill_qty")
    stop_qty, stop_paid = episode.field("stop_fill_qty"), episode.field("stop_fill_price")
    paid = episode.field("fill_price")
    slip = BPS / 1e4
    checked = gapped = 0
    for i in range(1, len(bars)):
        pos, level = position[i - 1], stop[i - 1]
        through = pos != 0 and (o[i] <= level if pos > 0 else o[i] >= level)
        if through:  # a carried stop gapped at the open: closed there, the order dropped
            assert order[i] == 0 and hit[i]
        elif order[i] != 0:  # the order at the open: open, flip or close sets a new stop
            new = pos + order[i]
            new = 0.0 if abs(new) < 1e-12 else new
            if new != 0 and (pos == 0 or np.sign(new) != np.sign(pos)):
                level = paid[i] * (1 - stop_pct) if new > 0 else paid[i] * (1 + stop_pct)
            pos = new
        if pos == 0:
            assert not hit[i]
            continue
        touched = lo[i] <= level if pos > 0 else h[i] >= level
        assert hit[i] == touched, f"bar {bars[i]}: stop {level}, low {lo[i]}, high {h[i]}"
        if not touched:
            continue
        reference = min(o[i], level) if pos > 0 else max(o[i], level)
        gapped += through
        expected = reference * (1 - slip) if pos > 0 else reference * (1 + slip)
        assert stop_qty[i] == pytest.approx(-pos, rel=1e-9)
        assert stop_paid[i] == pytest.approx(expected, rel=1e-12)
        assert position[i] == 0.0 and stop[i] == 0.0
        checked += 1
    assert checked == hit.sum() >= 10
