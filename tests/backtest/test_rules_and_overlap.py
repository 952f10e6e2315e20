"""Rule baselines' targets and the overlap of a backtest with training spans."""

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.overlap import find_overlaps, missing_spans
from btcrl.errors import ConfigError
from btcrl.policy.policies import parse_rule, signal_targets, strategy_codes

TAGS = {
    "btcrl.train_start": "2024-01-01T00:00:00+00:00",
    "btcrl.train_end": "2024-06-30T23:00:00+00:00",
    "btcrl.val_start": "2024-07-01T00:00:00+00:00",
    "btcrl.val_end": "2024-09-30T23:00:00+00:00",
}


def test_signal_targets() -> None:
    # FLAT, LONG, HOLD, HOLD, SHORT, HOLD, FLAT, HOLD
    codes = np.array([3, 1, 3, 3, 2, 3, 0, 3], dtype=np.int8)
    assert signal_targets(codes, allow_short=True).tolist() == [0, 1, 1, 1, -1, -1, 0, 0]
    assert signal_targets(codes, allow_short=False).tolist() == [0, 1, 1, 1, 0, 0, 0, 0]


def test_strategy_codes_are_the_raw_codes(candles: pd.DataFrame) -> None:
    """The rule reads the codes the one-hot columns were made from (UNDEFINED -> FLAT)."""
    from btcrl.config.features import FeaturesConfig
    from btcrl.features import build_feature_set
    from btcrl.strategies.signals import strategy_signals

    config = FeaturesConfig(strategies=("supertrend",))
    fs = build_feature_set(candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    codes = strategy_codes(fs, "supertrend")
    expected = strategy_signals("supertrend", candles, "1h")
    np.testing.assert_array_equal(codes, expected)
    names = [f"supertrend_{label}" for label in ("flat", "long", "short", "hold")]
    columns = [fs.spec.feature_names.index(name) for name in names]
    onehot = fs.features[fs.first_valid :, columns]
    np.testing.assert_array_equal(np.argmax(onehot, axis=1), codes[fs.first_valid :])
    with pytest.raises(ConfigError, match="ott"):
        strategy_codes(fs, "ott")


def test_parse_rule() -> None:
    assert parse_rule("buy_and_hold") == ("buy_and_hold", None)
    assert parse_rule(" strategy:ott ") == ("strategy", "ott")
    for bad in ("hold", "strategy:", ""):
        with pytest.raises(ConfigError, match="unknown"):
            parse_rule(bad)


@pytest.mark.parametrize(
    ("start", "end", "spans"),
    [
        ("2024-10-01", "2024-12-31", []),
        ("2023-01-01", "2023-12-31T23:00", []),
        ("2024-09-30T23:00", "2024-12-31", ["validation"]),
        ("2023-06-01", "2024-01-01", ["train"]),
        ("2024-06-01", "2024-08-01", ["train", "validation"]),
    ],
)
def test_find_overlaps(start: str, end: str, spans: list[str]) -> None:
    found = find_overlaps(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), TAGS)
    assert [o.span for o in found] == spans
    for overlap in found:
        assert overlap.start <= overlap.end
        assert overlap.start >= pd.Timestamp(start, tz="UTC")


def test_missing_spans() -> None:
    assert missing_spans(TAGS) == []
    assert missing_spans({"btcrl.train_start": "x"}) == ["train", "validation"]
    with pytest.raises(ValueError, match=r"backtest span ends \(2024-01-01 .*\) before it starts"):
        find_overlaps(
            pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"), TAGS
        )
