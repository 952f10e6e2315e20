"""Hand-made candle sequences with known signals for each strategy's rules.

Small windows keep the sequences short; ``timeframe="1h"`` runs the 4h strategies on the
hourly bars themselves. Each expected event was worked out from the rule (the module table
of btcrl.strategies.builtin); every other defined bar must be HOLD. The per-candle reference
must agree on every bar too.
"""

import numpy as np
import pandas as pd
import pytest
from reference.strategies import reference_signal

from btcrl.strategies import UNDEFINED, Signal, get_strategy

L, S, F = int(Signal.LONG), int(Signal.SHORT), int(Signal.FLAT)


def make(close: list[float], spread: float = 1.0, opens: list[float] | None = None) -> pd.DataFrame:
    """Hourly candles: open = previous close (or ``opens``), high/low = body +/- spread."""
    c = np.asarray(close, dtype=float)
    o = np.concatenate([[c[0]], c[:-1]]) if opens is None else np.asarray(opens, dtype=float)
    index = pd.date_range("2024-01-01", periods=c.size, freq="1h", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + spread,
            "low": np.minimum(o, c) - spread,
            "close": c,
            "volume": 1.0,
        },
        index=index,
    )


CASES = {
    # flat, then a rise (AO leaves 0 upwards with MACD > 0: LONG at the first rising bar),
    # a plateau and a gentle dip (AO turns negative while MACD is still >= 0: FLAT),
    # a plateau and a sharp fall (AO and MACD negative together: SHORT)
    "awesome_macd": (
        dict(timeframe="1h", fast=2, slow=4, ao_fast=2, ao_slow=4),
        [100.0] * 10
        + [101, 102, 103, 104, 105, 106]
        + [106] * 3
        + [105.5, 105, 104.5]
        + [104] * 8
        + [100, 96, 92],
        {10: L, 19: F, 30: S},
        4,
    ),
    # a slow rise, a crash below the lower band with RSI 3 (LONG), a rebound through the
    # middle band (FLAT), a rally and a spike above the upper band with RSI 99 (SHORT)
    "bollinger_rsi": (
        dict(window=10, rsi_window=3),
        [100 + 0.2 * i for i in range(12)]
        + [90, 91, 92, 101, 102, 103, 104, 105, 106, 107, 108, 120],
        {12: L, 15: F, 23: S},
        10,
    ),
    # flat, a steady fall (VAR drops under the lagged OTT at once: SHORT), a base, a steady
    # rise (VAR climbs over the lagged OTT at once: LONG)
    "ott": (
        dict(timeframe="1h", cmo_window=3),
        [100.0] * 12
        + list(np.linspace(100, 80, 9)[1:])
        + [80.0] * 4
        + list(np.linspace(80, 110, 9)[1:])
        + [110.0] * 4,
        {12: S, 24: L},
        6,
    ),
    # ATR(3) = 2 on the flat bars, bands at 98 / 102: the close of 95 breaks the up band
    # (SHORT), the close of 110 breaks the down band (LONG)
    "supertrend": (
        dict(atr_window=3, multiplier=1.0),
        [100.0] * 8 + [95.0] * 6 + [110.0] * 5,
        {8: S, 14: L},
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_signals(name: str) -> None:
    params, close, expected, warmup = CASES[name]
    spread = 0.5 if name == "ott" else 1.0
    candles = make(close, spread)
    strategy = get_strategy(name, **params)
    got = strategy.signals(candles)
    assert strategy.warmup == warmup
    want = np.full(len(candles), int(Signal.HOLD))
    want[:warmup] = UNDEFINED
    for row, signal in expected.items():
        want[row] = signal
    np.testing.assert_array_equal(got, want)


def test_volatility_breakout_by_hand() -> None:
    # ten quiet bars (open = close = 100, range 2 -> ATR(3) = 2), then a +3 body
    # (> 1 x ATR 2: LONG), a quiet bar, and a -4 body (ATR is then 2.111: SHORT)
    opens = [100.0] * 10 + [100.0, 103.0, 103.0]
    close = [100.0] * 10 + [103.0, 103.0, 99.0]
    candles = make(close, 1.0, opens)
    candles.loc[candles.index[10], ["high", "low"]] = [103.5, 99.5]
    candles.loc[candles.index[11], ["high", "low"]] = [103.5, 102.5]
    got = get_strategy("volatility_breakout", atr_window=3, k=1.0).signals(candles)
    hold = int(Signal.HOLD)
    assert got.tolist() == [UNDEFINED] * 3 + [hold] * 7 + [L, hold, S]


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_agrees_on_hand_made_bars(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    params, close, _, _ = CASES[name]
    candles = make(close, 0.5 if name == "ott" else 1.0)
    import reference.strategies as reference

    monkeypatch.setattr(reference, "get_strategy", lambda n: get_strategy(n, **params))
    got = get_strategy(name, **params).signals(candles)
    ref = [reference_signal(name, candles.iloc[: t + 1], "1h") for t in range(len(candles))]
    assert got.tolist() == ref
