"""A worker's walkforward trials share their fold windows (btcrl.tune.fold_cache) and score
exactly what they scored without the sharing."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

import btcrl.tune.oos
from btcrl.config import load_config
from btcrl.tune import run_study
from btcrl.tune.fold_cache import FoldCache, cache_key

#: one point: every trial trains the same config with the same seed
SPACE = """\
algo: ppo
params:
  agent.learning_rate: {type: categorical, choices: [0.001]}
fixed:
  agent.n_steps: 64
  agent.batch_size: 64
  agent.n_epochs: 1
  agent.net_arch: [16, 16]
"""


def test_cache_builds_once_per_key_and_drops_the_oldest() -> None:
    cache = FoldCache(size=2)
    built: list[str] = []

    def build(name: str) -> Callable[[], str]:
        return lambda: built.append(name) or name  # type: ignore[func-returns-value]

    assert cache.get("a", build("a")) == "a"
    assert cache.get("a", build("a2")) == "a"
    cache.get("b", build("b"))
    cache.get("c", build("c"))  # drops a
    assert cache.get("a", build("a3")) == "a3"
    assert built == ["a", "b", "c", "a3"]
    assert cache.hits == 1


def test_cache_key_tells_configs_apart() -> None:
    one = load_config(None, [])
    other = load_config(None, ["env.fee_rate=0.002"])
    assert cache_key("x", one.env, 1.0) == cache_key("x", load_config(None, []).env, 1.0)
    assert cache_key("x", one.env, 1.0) != cache_key("x", other.env, 1.0)
    assert cache_key("x", one.env, 1.0) != cache_key("x", one.env, 1.0 + 1e-12)


def test_trials_reuse_fold_windows_and_score_the_same(
    study_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {"train": 0, "test": 0}

    def counted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name, attr in (("train", "train_window_features"), ("test", "oos_window_features")):
        monkeypatch.setattr(btcrl.tune.oos, attr, counted(name, getattr(btcrl.tune.oos, attr)))
    space = study_dir / "space.yaml"
    space.write_text(SPACE)
    config = load_config(
        None,
        [
            f"data.data_dir={study_dir / 'data'}",
            "data.start=2023-09-01",
            "data.end=2024-12-31",
            f"tune.storage=sqlite:///{study_dir / 'studies' / 'cache.db'}",
            "tune.study=cache",
            f"tune.space={space}",
            "tune.objective=walkforward",
            "tune.trials=2",
            "tune.pruner=none",
            "tune.inner_folds=2",
            "tune.holdout_months=0",
            "tune.budget_timesteps=256",
            "tune.budget_eval_every=128",
            "tune.budget_n_envs=2",
            "walkforward.train_months=6",
            "walkforward.val_months=1",
            "walkforward.test_months=1",
            "walkforward.step_months=1",
            "train.system_metrics=false",
        ],
    )
    run_study(config)
    trials = optuna.load_study(study_name="cache", storage=config.tune.storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert calls == {"train": 2, "test": 2}  # once per fold, not once per fold and trial
    # the second trial ran on the first one's windows: same value, same stitched metrics
    assert trials[1].value == trials[0].value
    assert trials[1].user_attrs["metrics"] == trials[0].user_attrs["metrics"]
