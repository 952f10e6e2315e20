"""Train a fold, trade its test window, stitch: the walk-forward's own pieces, in one process.

A fold is trained by ``run_training`` on its train window's FeatureSet
(:func:`btcrl.walkforward.train.segment_config`: the checkpoint is picked on its validation
tail) and tested by the walk-forward's window runner (:func:`btcrl.walkforward.oos.run_window`,
the ``btcrl backtest`` engine, forced close at the window's end), chained in time with
buy-and-hold through the same windows (docs/walkforward.md, "Stitching convention").
"""

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, write_oos_returns
from btcrl.config import ExperimentConfig, with_overrides
from btcrl.config.env import EnvConfig
from btcrl.data.timeframes import periods_per_year
from btcrl.features.prior import EXPOSURE_COLUMN
from btcrl.features.spec import FeatureSet
from btcrl.policy.policies import PRIOR_RULE
from btcrl.tracking import log_artifact
from btcrl.tracking import tags as tag_names
from btcrl.tune.fold_cache import FoldCache, cache_key, cached
from btcrl.tune.metrics import oos_metrics, prior_metrics
from btcrl.walkforward.oos import BUY_AND_HOLD, baseline_policy, run_window, window_policy
from btcrl.walkforward.split import Segment
from btcrl.walkforward.stitch import Window, chain
from btcrl.walkforward.train import segment_config
from btcrl.walkforward.windows import oos_window_features, train_window_features

if TYPE_CHECKING:
    from btcrl.agents.training import TrainResult
    from btcrl.policy.ensemble import LoadedEnsemble
    from btcrl.policy.loader import LoadedPolicy

log = logging.getLogger(__name__)


@dataclass
class Stitched:
    """A policy's and buy-and-hold's test windows so far, chained in time."""

    windows: list[Window] = field(default_factory=list)
    bh_windows: list[Window] = field(default_factory=list)
    prior_windows: list[Window] = field(default_factory=list)  # when folds carry the prior

    def balances(self, initial: float) -> tuple[float, float]:
        """Equity (USD) each next window starts with: the model's and buy-and-hold's."""
        if not self.windows:
            return initial, initial
        return float(self.windows[-1].equity[-1]), float(self.bh_windows[-1].equity[-1])

    def series(self) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Stitched per-bar returns (fractions) and the open times of their bars."""
        times, equity = chain(self.windows)
        return times[1:], equity[1:] / equity[:-1] - 1.0

    def metrics(self, config: ExperimentConfig) -> dict[str, float]:
        """``oos/*`` of the stitched curve (:func:`btcrl.tune.metrics.oos_metrics`)."""
        _, equity = chain(self.windows)
        _, bh = chain(self.bh_windows)
        steps = pd.concat([w.steps for w in self.windows])
        value = np.abs(steps["position"].to_numpy() * steps["close"].to_numpy())
        exposure = value / np.maximum(steps["equity"].to_numpy(), 1e-12)
        ppy = periods_per_year(config.data.timeframe)
        out = oos_metrics(equity, bh, exposure, ppy, config.tune.min_exposure)
        if len(self.prior_windows) == len(self.windows):
            _, prior = chain(self.prior_windows)
            out.update(prior_metrics(equity, prior, ppy))
        return out


def fold_config(
    config: ExperimentConfig, segment: Segment, log_model: bool = True
) -> ExperimentConfig:
    """The training config of one fold: the segment's spans, the trial's seed, logged in
    the tune experiment, not registered; ``log_model`` False skips the servable model (the
    fold's model is traded in memory, :func:`trade_fold`)."""
    return with_overrides(
        segment_config(config, segment, config.seed),
        {"train.experiment": config.tune.experiment, "train.log_model": log_model},
    )


def train_fold(
    config: ExperimentConfig,
    segment: Segment,
    candles: pd.DataFrame,
    *,
    parent_run_id: str | None,
    tags: Mapping[str, str],
    name_prefix: str,
    fold: int | None = None,
    log_model: bool = True,
    cache: FoldCache | None = None,
) -> "TrainResult":
    """``run_training`` on the fold's train window; its ``TrainResult``. ``fold``: the
    fold's position among the trial's folds (tag ``btcrl.tune.fold``); ``log_model``: see
    :func:`fold_config`; ``cache``: the worker's windows (:mod:`btcrl.tune.fold_cache`)."""
    from btcrl.agents import run_training

    train_config = fold_config(config, segment, log_model)
    # fitted features (HMM, fracdiff) fit on the fold's train split only, as a walk-forward's
    key = cache_key(
        "train",
        train_config.data,
        train_config.features,
        train_config.env.vol_window,
        train_config.train.split_ratio,
        train_config.train.train_end,
        segment.spans(),
    )
    features = cached(cache, key, lambda: train_window_features(candles, train_config, segment))
    return run_training(
        train_config,
        parent_run_id=parent_run_id,
        extra_tags={**tags, **({tag_names.FOLD: str(fold)} if fold is not None else {})},
        features=features,
        name_prefix=name_prefix,
    )


def trade_fold(
    config: ExperimentConfig,
    segment: Segment,
    candles: pd.DataFrame,
    result: "TrainResult",
    stitched: Stitched,
    cache: FoldCache | None = None,
) -> None:
    """Trade the fold's test window with the fold's model (the one in ``result``, in memory,
    else loaded from its URI) and with buy-and-hold, each starting with its previous
    window's final equity; appends both windows to ``stitched``. The test window applies
    the fold model's fitted params (``spec.fitted``, never a refit) and starts, like the
    walk-forward's, ``env.window`` bars before the test start. ``cache``: the worker's
    windows (:mod:`btcrl.tune.fold_cache`): the test window and the baselines' runs."""
    loaded = _fold_policy(result, config)
    window = loaded.config.env.window
    fitted = loaded.spec.fitted
    fs_key = cache_key(
        "test", config.data, config.features, config.env.vol_window, segment.spans(), fitted, window
    )
    fs = cached(
        cache, fs_key, lambda: oos_window_features(candles, config, segment, fitted, window)
    )
    loaded.spec.check_compatible(fs.spec)
    env = config.env.model_copy(update={"window": window})
    balance, bh_balance = stitched.balances(config.env.initial_balance)
    policy = window_policy(loaded, result.model_uri)
    stitched.windows.append(run_window(fs, env, policy, balance, segment.index))
    stitched.bh_windows.append(
        _baseline_window(BUY_AND_HOLD, fs, env, bh_balance, segment.index, cache, fs_key)
    )
    if EXPOSURE_COLUMN in fs.spec.feature_names:  # the prior beside the model, like a baseline
        prior_balance = (
            float(stitched.prior_windows[-1].equity[-1])
            if stitched.prior_windows
            else config.env.initial_balance
        )
        stitched.prior_windows.append(
            _baseline_window(PRIOR_RULE, fs, env, prior_balance, segment.index, cache, fs_key)
        )


def _baseline_window(
    name: str,
    fs: FeatureSet,
    env: EnvConfig,
    balance: float,
    segment: int,
    cache: FoldCache | None,
    fs_key: str,
) -> Window:
    """Rule ``name`` traded through the test window ``fs`` from ``balance`` USD (the same
    for every trial of a fold unless the env or the equity it starts with differ)."""

    def run() -> Window:
        policy, rule_env = baseline_policy(name, fs, env)
        return run_window(fs, rule_env, policy, balance, segment)

    return cached(cache, cache_key(name, fs_key, env, balance, segment), run)


def _fold_policy(
    result: "TrainResult", config: ExperimentConfig
) -> "LoadedPolicy | LoadedEnsemble":
    """The fold's trained model as a LoadedPolicy: from memory when the run handed it back,
    else from the store."""
    from btcrl.policy import load_policy
    from btcrl.policy.loader import LoadedPolicy

    if result.model is None or result.spec is None:
        return load_policy(result.model_uri)
    return LoadedPolicy(
        model=result.model,
        spec=result.spec,
        config=result.config or config,
        model_uri=result.model_uri,
        source_run_id=result.run_id,
    )


def log_returns(run_id: str, times: pd.DatetimeIndex, returns: np.ndarray) -> None:
    """Write ``oos_returns.csv`` (:func:`btcrl.backtest.selection.write_oos_returns`) into
    run ``run_id``'s artifacts."""
    with tempfile.TemporaryDirectory(prefix="btcrl-tune-") as tmp:
        path = write_oos_returns(Path(tmp) / OOS_RETURNS_ARTIFACT, times, returns)
        log_artifact(path, run_id=run_id)
