"""Tuning with fitted features: each inner fold fits HMM and fracdiff on its own train split
(the bars before its validation tail), as a walk-forward segment does, and never on the
validation or test bars after it (rows poisoned there leave the params as they are)."""

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import btcrl.agents
from btcrl.config import ExperimentConfig, load_config
from btcrl.data.sample import load_sample
from btcrl.features.spec import FeatureSet, FittedParams
from btcrl.tune.folds import inner_split
from btcrl.tune.oos import train_fold
from btcrl.walkforward.split import Segment

HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    return load_config(
        None,
        [
            "features.cache=false",
            "features.hmm.enabled=true",
            "features.fracdiff.enabled=true",
            "tune.objective=walkforward",
            "tune.inner_folds=2",
            "tune.holdout_months=2",
            "walkforward.train_months=6",
            "walkforward.val_months=1",
            "walkforward.test_months=1",
            "walkforward.step_months=1",
        ],
    )


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return load_sample()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FeatureSet]]:
    """The FeatureSets the folds hand to ``run_training`` (which this stands in for: the
    features are what is checked here, the training is tested elsewhere)."""
    seen: list[FeatureSet] = []

    def capture(config: ExperimentConfig, *, features: FeatureSet, **_: Any) -> None:
        seen.append(features)

    monkeypatch.setattr(btcrl.agents, "run_training", capture, raising=False)
    yield seen


def _fold_params(
    config: ExperimentConfig, segment: Segment, candles: pd.DataFrame, seen: list[FeatureSet]
) -> tuple[FittedParams, ...]:
    train_fold(config, segment, candles, parent_run_id=None, tags={}, name_prefix="t")
    return seen[-1].spec.fitted


def _poisoned(candles: pd.DataFrame, after: pd.Timestamp) -> pd.DataFrame:
    out = candles.copy()
    late = out.index >= after
    out.loc[late, ["open", "high", "low", "close"]] *= 3.0
    out.loc[late, "volume"] *= 10.0
    return out


def test_each_fold_fits_on_its_own_train_rows_only(
    config: ExperimentConfig, candles: pd.DataFrame, captured: list[FeatureSet]
) -> None:
    folds = inner_split(candles.index, config, folds=True).folds
    assert len(folds) == 2
    fitted = []
    for segment in folds:
        params = _fold_params(config, segment, candles, captured)
        assert [p.name for p in params] == ["hmm", "fracdiff"]
        for p in params:  # the last bar before the fold's validation tail
            assert pd.Timestamp(p.fit_end) == segment.val_start - HOUR
        # bars after the fold's train split (its validation and test windows, later folds)
        # poisoned: the fit ignores them
        poisoned = _fold_params(config, segment, _poisoned(candles, segment.val_start), captured)
        assert poisoned == params
        fitted.append(params)
    assert fitted[0][0].values != fitted[1][0].values  # another fold, another HMM
