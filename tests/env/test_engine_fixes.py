"""Engine fixes of issue 21 (item 5), hand-computed through TradingEnv."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import TradingEnv

from .helpers import price_feature_set

BAL = 10_000.0
FLAT = (1000.0, 1000.0, 1000.0, 1000.0)


def _env(rows: list[tuple[float, float, float, float]], **overrides: object) -> TradingEnv:
    settings: dict[str, object] = {
        "initial_balance": BAL,
        "fee_rate": 0.0,
        "slippage_bps": 0.0,
        "force_close_at_end": False,
        "borrow_rate_annual": 0.0,
        **overrides,
    }
    env = TradingEnv(price_feature_set(np.array(rows)), EnvConfig(**settings), mode="backtest")
    env.reset()
    return env


def test_no_position_cap_by_default_and_the_observation_shows_exposure() -> None:
    """BTC at 1,000 USD with 10,000 USD equity: all-in is 10 BTC, which the old 1-BTC
    default cut to 1. Without a cap the observation's last entry is the exposure
    position x close / equity (here 10 x 1100 / 11000 = 1), not position / cap."""
    rows = [FLAT, (1000.0, 1100.0, 1000.0, 1100.0), FLAT]
    env = _env(rows)
    obs, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    assert info["position"] == pytest.approx(10.0)
    assert obs[-1] == pytest.approx(10.0 * 1100.0 / info["equity"])
    assert obs[-1] == pytest.approx(1.0)
    capped = _env(rows, max_position_btc=2.0)
    obs, _, _, _, info = capped.step(np.array([1.0, 1.0], dtype=np.float32))
    assert info["position"] == pytest.approx(2.0)
    assert obs[-1] == pytest.approx(1.0)  # position / max_position_btc


def test_decisions_follow_the_clock_across_gaps_in_the_data() -> None:
    """Daily decisions on 1h bars (``decision_interval`` 24) fill at the open of the bars
    stamped 00:00 UTC (and at the episode's first step), also after a gap: here 3 hours of
    2024-01-01 are missing. Counting 24 bars would move the decision to 03:00."""
    times = pd.date_range("2024-01-01", periods=75, freq="1h", tz="UTC")
    times = times.delete([5, 6, 7])  # an exchange outage
    rows = np.full((len(times), 4), 1000.0)
    fs = price_feature_set(rows)
    fs = replace(fs, times=times.as_unit("ns").asi8.copy())
    config = EnvConfig(decision_interval=24, borrow_rate_annual=0.0, force_close_at_end=False)
    env = TradingEnv(fs, config, mode="backtest")
    env.reset()
    decided = []
    for step in range(len(times) - 1):
        a_pos = (step + 1) / 100.0  # a new wish every bar: the target shows when it is taken
        info = env.step(np.array([a_pos, 1.0], dtype=np.float32))[4]
        if info["target_exposure"] == np.float32(a_pos):
            decided.append(times[info["bar"]])
    midnights = [t for t in times[2:] if t.hour == 0]
    assert decided == [times[1], *midnights]
    assert len(midnights) == 3
