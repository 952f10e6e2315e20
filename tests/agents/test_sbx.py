"""SBX (JAX) learners behind ``agent.backend: sbx``: the compiled actor, save/load, seeding,
and a whole tracked training run with its pyfunc model."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import LoggedModelStatus

pytest.importorskip("sbx")

from btcrl.agents import run_training  # noqa: E402
from btcrl.agents.algos import build_model  # noqa: E402
from btcrl.config import with_overrides  # noqa: E402
from btcrl.env import BatchTradingEnv  # noqa: E402
from btcrl.errors import ConfigError  # noqa: E402
from btcrl.features.spec import FeatureSet  # noqa: E402
from btcrl.policy import load_policy  # noqa: E402
from btcrl.policy.act import deterministic_act  # noqa: E402
from btcrl.policy.algos import load_model, saved_backend  # noqa: E402
from btcrl.policy.sb3_mlp import mlp_from_policy  # noqa: E402

ALGOS = ["sac", "tqc", "crossq"]


def _sbx(tiny, algo: str, **values: object):  # noqa: ANN001, ANN202
    return tiny(**{"agent.algo": algo, "agent.backend": "sbx", **values})


def _trained(config, features: FeatureSet, steps: int = 512):  # noqa: ANN001, ANN202
    env = BatchTradingEnv(features, config.env, config.train.n_envs, config.seed)
    model = build_model(config.agent, env, config.seed, "cpu")
    model.learn(steps)
    return model


def _observations(features: FeatureSet, obs_size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0.0, 1.0, (256, obs_size)).astype(np.float32)


@pytest.mark.parametrize("algo", ALGOS)
def test_compiled_actor_equals_sbx_predict(
    algo: str,
    tiny,
    sine_features: FeatureSet,  # noqa: ANN001
) -> None:
    """The flax parameters (CrossQ: with its batch renormalisation folded in) read into the
    numba MLP give SBX's deterministic ``predict`` to 1e-5, after training moved them."""
    model = _trained(_sbx(tiny, algo, **{"agent.activation": "relu"}), sine_features)
    actor = mlp_from_policy(model.policy)
    assert actor is not None and actor.squashed
    obs = _observations(sine_features, actor.obs_size)
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(actor.forward(obs), expected, atol=1e-5)
    np.testing.assert_allclose(deterministic_act(model)(obs), expected, atol=0)
    assert np.abs(expected).max() > 1e-3  # not a degenerate all-zero policy


@pytest.mark.slow
def test_crossq_batch_stats_are_folded(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    """Without the running statistics the actions differ: the fold is not a no-op."""
    model = _trained(_sbx(tiny, "crossq"), sine_features)
    stats = model.policy.actor_state.batch_stats
    assert any(np.abs(np.asarray(v["mean"])).max() > 0 for v in stats.values())
    actor = mlp_from_policy(model.policy)
    assert actor is not None
    obs = _observations(sine_features, actor.obs_size)
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(actor.forward(obs), expected, atol=1e-5)


@pytest.mark.slow
def test_save_and_load_keep_the_backend(tiny, sine_features: FeatureSet, tmp_path: Path) -> None:  # noqa: ANN001
    model = _trained(_sbx(tiny, "tqc"), sine_features)
    path = tmp_path / "model.zip"
    model.save(path)
    assert saved_backend(path) == "sbx"
    loaded = load_model("tqc", path, env=None, device="cpu")
    assert type(loaded).__module__.startswith("sbx.")
    obs = _observations(sine_features, int(model.observation_space.shape[0]))
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


def test_same_seed_gives_the_same_weights(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    config = _sbx(tiny, "sac")
    first, second = (_trained(config, sine_features) for _ in range(2))
    other = _trained(with_overrides(config, {"seed": 7}), sine_features)

    def leaves(model) -> list[np.ndarray]:  # noqa: ANN001
        import jax

        return [np.asarray(x) for x in jax.tree_util.tree_leaves(model.policy.actor_state.params)]

    a, b, c = leaves(first), leaves(second), leaves(other)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_backend_rules_fail_at_load(tiny) -> None:  # noqa: ANN001
    with pytest.raises((ConfigError, ValueError), match="crossq"):
        tiny(**{"agent.algo": "crossq"})
    with pytest.raises((ConfigError, ValueError), match="sbx"):
        tiny(**{"agent.algo": "ppo", "agent.backend": "sbx"})


def test_sbx_training_run_logs_a_servable_model(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    """A tracked SBX run: checkpoints, compiled validation, registry, pyfunc and load_policy."""
    config = _sbx(tiny, "sac", **{"train.total_timesteps": 1024, "train.eval_every": 512})
    result = run_training(config, features=sine_features)
    assert result.model_version is not None and np.isfinite(result.metrics["val/sharpe"])
    policy = load_policy(result.model_uri)
    obs = _observations(sine_features, int(policy.model.observation_space.shape[0]))
    expected = policy.model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(policy.predict(obs), expected, atol=0)
    served = mlflow.pyfunc.load_model(result.model_uri)
    names = served.metadata.get_input_schema().input_names()
    np.testing.assert_allclose(
        served.predict(pd.DataFrame(obs, columns=names)), expected, atol=1e-6
    )
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    (logged,) = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert logged.status.to_int() == LoggedModelStatus.READY.to_int()
    assert logged.source_run_id == result.run_id
    assert [o.model_id for o in run.outputs.model_outputs] == [logged.model_id]
    requirements = Path(mlflow.pyfunc.get_model_dependencies(result.model_uri)).read_text()
    assert "sbx-rl==" in requirements and "jax==" in requirements
