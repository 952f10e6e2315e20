from datetime import date

import numpy as np
import pytest
from agent_data import sine_feature_set

from btcrl.agents.split import split_feature_set
from btcrl.errors import DataError


def test_ratio_split_is_chronological_and_counts_valid_bars_only() -> None:
    features = sine_feature_set(n=1000)
    features = features.rows(0, 1000)
    warm = type(features)(**{**features.__dict__, "first_valid": 200})
    split = split_feature_set(warm, ratio=0.75)
    assert len(split.train) == 200 + 600  # warm-up rows stay, 75 % of the 800 valid bars
    assert split.train.first_valid == 200
    assert len(split.validation) == 200 and split.validation.first_valid == 0
    assert split.train.times[-1] < split.validation.times[0]
    assert np.array_equal(np.concatenate([split.train.times, split.validation.times]), warm.times)
    tags = split.tags()
    assert tags["btcrl.train_start"] == "2024-01-09T08:00:00+00:00"  # row 200
    assert tags["btcrl.val_start"] > tags["btcrl.train_end"]


def test_date_split_ends_train_at_the_end_of_that_utc_day() -> None:
    split = split_feature_set(sine_feature_set(n=1000), ratio=0.5, train_end=date(2024, 1, 10))
    assert split.tags()["btcrl.train_end"] == "2024-01-10T23:00:00+00:00"
    assert split.tags()["btcrl.val_start"] == "2024-01-11T00:00:00+00:00"


@pytest.mark.parametrize(
    ("ratio", "train_end", "message"),
    [
        (0.999, None, "split_ratio 0.999 leaves 999 train and 1 validation bars"),
        (0.5, date(2030, 1, 1), "train_end 2030-01-01 leaves 1000 train and 0 validation"),
        (0.5, date(2023, 1, 1), "train_end 2023-01-01 leaves 0 train"),
    ],
)
def test_spans_too_short_are_errors(ratio: float, train_end: date | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        split_feature_set(sine_feature_set(n=1000), ratio=ratio, train_end=train_end)
