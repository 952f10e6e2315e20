"""Fitted features in a walk-forward: each segment fits HMM and fracdiff on its own train split
(the bars before its validation tail) and its test window applies those params, never a refit."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.data.sample import load_sample
from btcrl.errors import CompatibilityError
from btcrl.features.spec import FeatureSet
from btcrl.policy import load_policy
from btcrl.walkforward import run_walkforward
from btcrl.walkforward.split import Segment, make_segments
from btcrl.walkforward.train import segment_config
from btcrl.walkforward.windows import (
    oos_window_features,
    train_window_features,
    window_features,
)
from tests.walkforward.test_resume import tiny_walkforward

HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    return with_overrides(
        ExperimentConfig(),
        {
            "features.cache": False,
            "features.hmm.enabled": True,
            "features.fracdiff.enabled": True,
            "walkforward.train_months": 6,
            "walkforward.val_months": 1,
            "walkforward.test_months": 3,
            "walkforward.step_months": 3,
        },
    )


@pytest.fixture(scope="module")
def segments(candles: pd.DataFrame, config: ExperimentConfig) -> list[Segment]:
    found = make_segments(candles.index[0], candles.index[-1] + HOUR, config.walkforward, HOUR)
    return found[3:5]  # with a full fracdiff warm-up before their train windows


def _train(candles: pd.DataFrame, config: ExperimentConfig, segment: Segment) -> FeatureSet:
    return train_window_features(candles, segment_config(config, segment, 0), segment)


def _poisoned(candles: pd.DataFrame, after: pd.Timestamp, factor: float = 3.0) -> pd.DataFrame:
    out = candles.copy()
    late = out.index >= after
    out.loc[late, ["open", "high", "low", "close"]] *= factor
    out.loc[late, "volume"] *= 10.0
    return out


def test_each_segment_fits_on_its_own_train_split_only(
    candles: pd.DataFrame, config: ExperimentConfig, segments: list[Segment]
) -> None:
    fitted = []
    for segment in segments:
        fs = _train(candles, config, segment)
        params = fs.spec.fitted
        assert [p.name for p in params] == ["hmm", "fracdiff"]
        for p in params:  # up to the last bar before the validation tail, never later
            assert pd.Timestamp(p.fit_end) == segment.val_start - HOUR
        # the same params as a fit on candles that stop at the end of the train split
        train_only = candles[candles.index < segment.val_start]
        alone = window_features(
            train_only,
            config.features,
            config.data,
            segment.train_start,
            segment.val_start,
            fit_end=segment.val_start - HOUR,
        )
        assert alone.spec.fitted == params
        # validation rows are observed with the train params: the columns match too
        k = int(np.searchsorted(fs.times, alone.times[0]))  # (fs keeps history before it)
        np.testing.assert_array_equal(alone.features, fs.features[k : k + len(alone)])
        fitted.append(params)
    first, second = fitted
    assert first[0].values != second[0].values  # another window, another HMM
    assert first[0].fit_end != second[0].fit_end


def test_poisoning_rows_after_the_train_split_leaves_the_params(
    candles: pd.DataFrame, config: ExperimentConfig, segments: list[Segment]
) -> None:
    segment = segments[0]
    clean = _train(candles, config, segment).spec.fitted
    poisoned = _train(_poisoned(candles, segment.val_start), config, segment).spec.fitted
    assert poisoned == clean
    # the check has teeth: a 2 % jump in the last train day changes the fit (a 3x jump makes
    # hmmlearn's scaled forward pass underflow)
    day_before = segment.val_start - pd.Timedelta(days=1)
    moved = _train(_poisoned(candles, day_before, 1.02), config, segment).spec.fitted
    assert moved[0].values != clean[0].values


def test_the_test_window_applies_the_segment_params_without_a_refit(
    candles: pd.DataFrame,
    config: ExperimentConfig,
    segments: list[Segment],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    segment = segments[0]
    params = _train(candles, config, segment).spec.fitted

    def refit(*_: object) -> None:
        raise AssertionError("the test window refitted")

    monkeypatch.setattr("btcrl.features.build.fit_features", refit)
    fs = oos_window_features(candles, config, segment, params)
    assert fs.spec.fitted == params
    # the bar the episode starts from, after env.vol_window bars of unobserved history
    assert fs.index[fs.first_valid] == segment.test_start - HOUR
    assert fs.first_valid == config.env.vol_window
    assert fs.index[-1] == segment.test_stop - HOUR
    assert np.isfinite(fs.features[fs.first_valid :]).all()
    # a model without params cannot be tested here
    with pytest.raises(CompatibilityError, match=r"fitted params are for \[\], the features"):
        oos_window_features(candles, config, segment, ())


@pytest.mark.slow
def test_a_walkforward_carries_each_segment_params_to_its_test(
    tmp_path: Path, tracking_uri: str
) -> None:
    config = tiny_walkforward(tmp_path, tracking_uri, **{"features.hmm.enabled": True})
    result = run_walkforward(config)
    assert result.metrics["segments/stitched"] == 2  # the test windows took the params
    ends = []
    for segment, uri in zip(result.segments, result.table["model_uri"], strict=False):
        (hmm,) = load_policy(str(uri)).spec.fitted
        assert pd.Timestamp(hmm.fit_end) == segment.val_start - HOUR
        ends.append(hmm.values)
    assert ends[0] != ends[1]
