"""The recipe signature a resumed walk-forward must match."""

import hashlib
import json
from types import SimpleNamespace

import pandas as pd

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.walkforward.runner import signature

FIRST = SimpleNamespace(train_start=pd.Timestamp("2020-01-01", tz="UTC"))


def test_discrete_levels_make_another_recipe() -> None:
    plain = ExperimentConfig()
    levels = with_overrides(plain, {"env.action_levels": [0.0, 1.0]})
    assert signature(plain, FIRST)["recipe"] != signature(levels, FIRST)["recipe"]  # type: ignore[arg-type]


def test_levels_off_hash_as_before_the_field_existed() -> None:
    """Studies made before ``env.action_levels`` existed resume while it is off."""
    config = ExperimentConfig()
    recipe = config.model_dump(mode="json", include={"features", "env", "agent", "train"})
    recipe["train"].pop("torch_threads")
    recipe["train"].pop("seeds")  # (newer than the studies too, and never part of a recipe)
    del recipe["env"]["action_levels"]
    old = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    assert signature(config, FIRST)["recipe"] == old  # type: ignore[arg-type]


def test_ensembles_are_not_part_of_the_recipe() -> None:
    """A finished walk-forward re-run with ``--ensemble`` (or a config that names
    ``train.seeds``) resumes the same study: it trains nothing and only adds the ensemble."""
    plain = ExperimentConfig()
    ensemble = with_overrides(plain, {"walkforward.ensemble": True, "train.seeds": [0, 1]})
    assert signature(plain, FIRST) == signature(ensemble, FIRST)  # type: ignore[arg-type]
