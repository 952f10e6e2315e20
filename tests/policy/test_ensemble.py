"""Seed ensembles: the mean of the members' deterministic actions, compiled and in Python."""

import dataclasses

import numpy as np
import pytest
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.config import build_config
from btcrl.data.sample import load_sample
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy.ensemble import LoadedEnsemble, ensemble_of, mean_action
from btcrl.policy.episode import EnsembleMlpPolicy, MlpPolicy, model_policy, run_episode
from btcrl.policy.loader import LoadedPolicy
from tests.env.helpers import simple_feature_set
from tests.env.test_episode_runner import CONFIG, tiny_model


@pytest.fixture(scope="module")
def features() -> FeatureSet:
    return simple_feature_set(load_sample()).rows(0, 2000)


def _loaded(model: BaseAlgorithm, features: FeatureSet, uri: str, **env: object) -> LoadedPolicy:
    config = build_config({"env": {**CONFIG.model_dump(mode="json"), **env}})
    return LoadedPolicy(model=model, spec=features.spec, config=config, model_uri=uri)


@pytest.fixture(scope="module")
def members(features: FeatureSet) -> list[LoadedPolicy]:
    """Three members of different algorithms over the same observation and env."""
    return [_loaded(tiny_model(features, algo), features, algo) for algo in ("ppo", "sac", "tqc")]


def test_ensemble_actions_are_the_mean_of_the_members_predict(
    members: list[LoadedPolicy], features: FeatureSet
) -> None:
    ensemble = ensemble_of(members)
    policy = model_policy(ensemble.model.policy, ensemble.predict, name="ensemble")
    assert isinstance(policy, EnsembleMlpPolicy)  # every member compiles: so does the mean
    episode = run_episode(features, CONFIG, policy, mode="eval")
    obs = episode.observations
    each = [m.model.predict(obs, deterministic=True)[0] for m in members]
    expected = np.mean(np.stack(each), axis=0)
    np.testing.assert_allclose(episode.actions, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ensemble.predict(obs), expected, rtol=0, atol=1e-5)
    # the members disagree, so the mean is not any one of them
    assert min(float(np.abs(a - expected).max()) for a in each) > 0.05
    # stepping the kernel's forward pass gives the compiled actions bit for bit
    stepped = np.stack([policy.act(0, row) for row in obs[:200]])
    np.testing.assert_array_equal(stepped, episode.actions[:200])


def test_an_ensemble_of_one_trades_as_its_member_bit_for_bit(
    members: list[LoadedPolicy], features: FeatureSet
) -> None:
    member = members[1]
    alone = model_policy(member.model.policy, member.predict)
    assert isinstance(alone, MlpPolicy)
    ensemble = ensemble_of([member])
    one = model_policy(ensemble.model.policy, ensemble.predict)
    assert isinstance(one, EnsembleMlpPolicy)
    single = run_episode(features, CONFIG, alone)
    both = run_episode(features, CONFIG, one)
    assert np.count_nonzero(single.field("fill_qty")) > 50
    np.testing.assert_array_equal(both.ledger, single.ledger)
    np.testing.assert_array_equal(both.actions, single.actions)


def test_mean_action_sums_in_order_then_divides() -> None:
    a = np.array([[0.1, -1.0]], np.float32)
    b = np.array([[0.4, 1.0]], np.float32)
    np.testing.assert_array_equal(mean_action([a, b]), (a + b) / np.float32(2))
    assert mean_action([a]) is not a and np.array_equal(mean_action([a]), a)


def test_members_of_another_env_or_observation_are_refused(
    members: list[LoadedPolicy], features: FeatureSet
) -> None:
    other_env = _loaded(members[0].model, features, "fee", fee_rate=0.01)
    with pytest.raises(ConfigError, match=r"env\.fee_rate=0\.01"):
        ensemble_of([members[0], other_env])
    other_spec = LoadedPolicy(
        model=members[0].model,
        spec=dataclasses.replace(features.spec, indicators=("rsi_99",)),
        config=members[0].config,
        model_uri="rsi",
    )
    with pytest.raises(ConfigError, match="observes other features"):
        ensemble_of([members[0], other_spec])
    with pytest.raises(ConfigError, match="at least one member"):
        LoadedEnsemble((), "none")
