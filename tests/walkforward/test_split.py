"""The splitter: tiling test windows, train windows before them, properties over many splits."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcrl.config.walkforward import WalkforwardConfig
from btcrl.errors import ConfigError
from btcrl.walkforward.split import make_segments, select_segments

HOUR = pd.Timedelta(hours=1)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_defaults_on_seven_years() -> None:
    """2018-02-09 .. 2025-03-31 (the real 1h file): 18-month train, 3-month test -> 22."""
    config = WalkforwardConfig()
    segments = make_segments(ts("2018-02-09 05:00"), ts("2025-04-01"), config, HOUR)
    assert len(segments) == 22
    first, last = segments[0], segments[-1]
    assert first.train_start == ts("2018-03-01")
    assert first.val_start == ts("2019-06-01")
    assert first.test_start == first.train_stop == ts("2019-09-01")
    assert first.test_stop == ts("2019-12-01")
    assert last.test_stop == ts("2025-03-01")  # March 2025 is not a whole 3-month window


def test_anchored_and_embargo() -> None:
    config = WalkforwardConfig(train_months=6, anchored=True, embargo_bars=24, val_months=1)
    segments = make_segments(ts("2022-01-01"), ts("2023-01-01"), config, HOUR)
    assert [s.train_start for s in segments] == [ts("2022-01-01")] * 2
    assert segments[1].train_stop == ts("2022-10-01") - pd.Timedelta(days=1)
    assert segments[1].val_start == ts("2022-09-01")


def test_too_few_segments_names_the_range() -> None:
    with pytest.raises(ConfigError, match=r"1 segment\(s\) fit .* need at least 2"):
        make_segments(ts("2022-01-01"), ts("2023-12-31"), WalkforwardConfig(), HOUR)


def test_bad_windows_are_config_errors() -> None:
    with pytest.raises(ValueError, match="must equal test_months"):
        WalkforwardConfig(step_months=1)
    with pytest.raises(
        ValueError, match="test_months\n  Input should be greater than or equal to 1"
    ):
        WalkforwardConfig(test_months=0)
    with pytest.raises(ValueError, match="seeds repeat"):
        WalkforwardConfig(seeds=(0, 0))


def test_select_segments() -> None:
    config = WalkforwardConfig(train_months=3, test_months=1, step_months=1, val_months=1)
    segments = make_segments(ts("2022-01-01"), ts("2022-12-01"), config, HOUR)
    assert [s.index for s in select_segments(segments, (4, 2))] == [2, 4]
    with pytest.raises(ConfigError, match=r"segments \[99\] do not exist"):
        select_segments(segments, (99,))


@settings(max_examples=200, deadline=None)
@given(
    start_day=st.integers(0, 800),
    hours=st.integers(0, 23),
    length_days=st.integers(200, 3000),
    train=st.integers(2, 24),
    test=st.integers(1, 6),
    val=st.integers(1, 3),
    embargo=st.integers(0, 48),
    anchored=st.booleans(),
)
def test_properties(
    start_day: int,
    hours: int,
    length_days: int,
    train: int,
    test: int,
    val: int,
    embargo: int,
    anchored: bool,
) -> None:
    if val >= train:
        val = train - 1
    config = WalkforwardConfig(
        train_months=train,
        test_months=test,
        step_months=test,
        val_months=val,
        embargo_bars=embargo,
        anchored=anchored,
    )
    first = ts("2018-01-01") + pd.Timedelta(days=start_day, hours=hours)
    stop = first + pd.Timedelta(days=length_days)
    try:
        segments = make_segments(first, stop, config, HOUR)
    except ConfigError:
        return  # too short for two segments: nothing else to check
    assert len(segments) >= 2
    assert [s.index for s in segments] == list(range(len(segments)))
    for prev, seg in zip(segments, segments[1:], strict=False):
        assert seg.test_start == prev.test_stop  # tiling: no gap, no overlap
    for seg in segments:
        assert first <= seg.train_start < seg.val_start < seg.train_stop <= seg.test_start
        assert seg.test_start - seg.train_stop == embargo * HOUR
        assert seg.test_stop <= stop
        assert seg.test_start.day == 1 and seg.test_start.hour == 0
        assert seg.test_start == seg.train_start + pd.DateOffset(months=train) or anchored
        assert seg.test_stop == seg.test_start + pd.DateOffset(months=test)
        assert seg.val_start == seg.test_start - pd.DateOffset(months=val)
    # no further whole test window would fit
    after = segments[-1].test_stop + pd.DateOffset(months=test)
    assert after > stop
