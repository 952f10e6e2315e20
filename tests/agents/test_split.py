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


def test_validation_decides_first_at_the_last_train_bar_with_history() -> None:
    """With ``lead_bars`` 1 and ``history_bars`` 24 the validation set starts 25 rows before
    the boundary: 24 unobserved rows of history (the realised vol reads them), then the last
    train bar, where the episode decides first, so its first fill is at the validation span's
    first open. Tags and the span itself are those of the split without them."""
    from btcrl.config.env import EnvConfig
    from btcrl.env.params import first_row
    from btcrl.policy.episode import run_episode
    from btcrl.policy.policies import buy_and_hold_policy

    features = sine_feature_set(n=1000)
    plain = split_feature_set(features, ratio=0.5, train_end=date(2024, 1, 10))
    split = split_feature_set(
        features, ratio=0.5, train_end=date(2024, 1, 10), lead_bars=1, history_bars=24
    )
    assert split.tags() == plain.tags() and split.val_lead == 25
    assert np.array_equal(split.validation_span.times, plain.validation.times)
    assert split.validation.first_valid == 24
    assert first_row(split.validation) == 24  # the last train bar
    config = EnvConfig(borrow_rate_annual=0.0)
    policy = buy_and_hold_policy(len(split.validation))
    episode = run_episode(split.validation, config, policy, mode="eval")
    first_bar = int(episode.field("bar")[0])
    assert split.validation.times[first_bar] == plain.validation.times[0]
    assert episode.field("fill_qty")[0] > 0.0
