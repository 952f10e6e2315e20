"""Inner walk-forward folds before a held-back window that tuning never uses."""

import pandas as pd
import pytest

from btcrl.config import load_config
from btcrl.errors import ConfigError
from btcrl.tune.folds import inner_split

# hourly bars 2022-01-01 00:00 .. 2024-12-31 23:00: 36 whole months
INDEX = pd.date_range("2022-01-01", "2024-12-31 23:00", freq="h", tz="UTC")


def test_last_k_folds_end_where_the_heldback_window_starts() -> None:
    config = load_config(None, ["tune.objective=walkforward", "tune.holdout_months=3"])
    split = inner_split(INDEX, config, folds=True)
    stop = pd.Timestamp("2024-10-01", tz="UTC")
    assert split.tuning_stop == stop
    assert len(split.folds) == 4  # tune.inner_folds
    assert split.folds[-1].test_stop == stop  # the last fold ends at the held-back window
    tests = [(f.test_start, f.test_stop) for f in split.folds]
    assert tests[0][0] == pd.Timestamp("2023-10-01", tz="UTC")
    assert all(a[1] == b[0] for a, b in zip(tests, tests[1:], strict=False))  # they tile
    held = split.heldback
    assert held is not None
    assert (held.test_start, held.test_stop) == (stop, pd.Timestamp("2025-01-01", tz="UTC"))
    assert held.train_start == INDEX[0] and held.train_stop == stop
    assert held.val_start == pd.Timestamp("2024-07-01", tz="UTC")  # walkforward.val_months=3


def test_no_heldback_window_with_zero_months() -> None:
    config = load_config(None, ["tune.holdout_months=0"])
    split = inner_split(INDEX, config, folds=False)
    assert split.heldback is None and split.folds == ()
    assert split.tuning_stop == INDEX[-1] + pd.Timedelta(hours=1)


def test_too_few_folds_is_a_config_error_naming_the_numbers() -> None:
    config = load_config(None, ["tune.objective=walkforward", "tune.inner_folds=8"])
    with pytest.raises(ConfigError, match=r"inner_folds=8 but only \d fold"):
        inner_split(INDEX, config, folds=True)


def test_holding_back_everything_is_a_config_error() -> None:
    config = load_config(None, ["tune.holdout_months=40"])
    with pytest.raises(ConfigError, match="holds back all the data"):
        inner_split(INDEX, config, folds=False)


def test_folds_end_at_the_heldback_window_when_months_do_not_divide() -> None:
    # 34 months before 2024-11-01: 18 train + 16, not a multiple of 3 test months
    config = load_config(None, ["tune.objective=walkforward", "tune.holdout_months=2"])
    split = inner_split(INDEX, config, folds=True)
    stop = pd.Timestamp("2024-11-01", tz="UTC")
    assert split.tuning_stop == stop and split.folds[-1].test_stop == stop
    assert split.folds[0].test_start == pd.Timestamp("2023-11-01", tz="UTC")
    assert split.folds[0].train_start == pd.Timestamp("2022-05-01", tz="UTC")  # 18 months
