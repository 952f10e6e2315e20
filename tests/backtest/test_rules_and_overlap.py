"""Rule baselines' targets and the overlap of a backtest with training spans."""

import numpy as np
import pandas as pd
import pytest

from btcrl.backtest.overlap import find_overlaps, missing_spans
from btcrl.backtest.policies import decode_onehot, parse_rule, signal_targets
from btcrl.errors import ConfigError

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


def test_decode_onehot() -> None:
    onehot = np.array([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]])
    assert decode_onehot(onehot).tolist() == [0, 1, 2, 3, 0]


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
    with pytest.raises(ValueError):
        find_overlaps(
            pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"), TAGS
        )
