"""``btcrl train --seeds``: a seed ensemble trained as nested member runs, validated like one
model, registered as one pyfunc whose action is the mean of the members', and backtested
through the compiled runner."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.agents.ensemble import run_ensemble_training
from btcrl.agents.training import load_train_features, train_split
from btcrl.cli import main
from btcrl.config import with_overrides
from btcrl.errors import ConfigError
from btcrl.policy import load_policy
from btcrl.policy.ensemble import LoadedEnsemble
from btcrl.policy.episode import EnsembleMlpPolicy, model_policy, run_episode


@pytest.mark.slow  # two tiny trainings, a registry and a backtest: about 40 s
def test_seed_ensemble_trains_registers_serves_and_backtests(
    tiny,  # noqa: ANN001
    sample_data_dir: Path,
) -> None:
    values = {
        "data.data_dir": str(sample_data_dir),
        "data.start": "2024-10-01",
        "train.seeds": [0, 1],
        "train.total_timesteps": 1024,
        "train.eval_every": 1024,
    }
    config = tiny(**values)
    result = run_ensemble_training(config)
    assert [m.model_version for m in result.members] == [None, None]  # members: not registered
    assert result.model_uri == "models:/btcrl-ppo/1" and result.model_version == 1
    client = mlflow.tracking.MlflowClient()
    for member in result.members:
        run = client.get_run(member.run_id)
        assert run.data.tags["mlflow.parentRunId"] == result.run_id
    parent = client.get_run(result.run_id)
    assert parent.data.metrics["val/sharpe"] == pytest.approx(result.metrics["val/sharpe"])
    assert "best/bh_total_return" in parent.data.metrics  # the version's validation line
    version = client.get_model_version("btcrl-ppo", "1")
    assert "Validation: agent" in version.description
    assert client.get_logged_model(version.source.removeprefix("models:/")).name == (
        "btcrl-ppo-ensemble2"
    )  # named (issue 24), not "model"

    loaded = load_policy(result.model_uri)
    assert isinstance(loaded, LoadedEnsemble) and len(loaded.members) == 2
    features = load_train_features(config)
    validation = train_split(config, features).validation
    policy = model_policy(loaded.model.policy, loaded.predict)
    assert isinstance(policy, EnsembleMlpPolicy)  # compiled
    episode = run_episode(validation, config.env, policy, mode="eval")
    obs = episode.observations
    each = [
        load_policy(m.model_uri).model.predict(obs, deterministic=True)[0] for m in result.members
    ]
    expected = np.mean(np.stack(each), axis=0)
    assert float(np.abs(each[0] - each[1]).max()) > 1e-3  # the seeds made different members
    np.testing.assert_allclose(episode.actions, expected, rtol=0, atol=1e-5)
    served = mlflow.pyfunc.load_model(result.model_uri)
    names = list(features.spec.observation_names)
    actions = served.predict(pd.DataFrame(obs, columns=names))
    assert actions.dtype == np.float32 and actions.shape == (len(obs), 2)
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
    # the validation scored the same episode
    equity = episode.equity
    assert result.metrics["val/total_return"] == pytest.approx(equity[-1] / equity[0] - 1.0)

    from btcrl.backtest import run_backtest

    period = {"backtest.start": "2025-02-01", "backtest.end": "2025-02-28", "backtest.plots": False}
    out = run_backtest(with_overrides(config, period), model_uri=result.model_uri)
    assert np.isfinite(out.headline["total_return"])
    assert out.summary["activity"]["fills"] > 0


def test_an_ensemble_needs_seeds_and_no_resume(tiny) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="train.seeds is not set"):
        run_ensemble_training(tiny(**{"train.seeds": None}))
    with pytest.raises(ConfigError, match="cannot continue an ensemble"):
        run_ensemble_training(tiny(**{"train.seeds": [0, 1], "train.resume": "abc"}))
    with pytest.raises(
        ConfigError, match=r"train\.seeds=\[1, 1\] is invalid: seeds must be distinct"
    ):
        tiny(**{"train.seeds": [1, 1]})


@pytest.mark.slow  # two tiny trainings: about 20 s
def test_train_command_trains_a_seed_ensemble(tracking_uri: str, sample_data_dir: Path) -> None:
    args = [
        "train", "--seeds", "3,4", "--total-timesteps", "512", "--n-envs", "4",
        "--device", "cpu", "--start", "2024-12-01", "--data-dir", str(sample_data_dir),
        "--set", "train.eval_every=512", "--set", "train.system_metrics=false",
        "--set", "env.episode_length=128", "--set", "agent.n_steps=32",
        "--set", "agent.batch_size=128", "--set", "agent.n_epochs=1",
        "--set", "agent.net_arch=[16,16]",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ensemble of seeds [3, 4]: member runs " in result.output
    assert "model URI: models:/btcrl-ppo/1" in result.output
    assert "prior trend_voltarget" in result.output and "buy-and-hold" in result.output
    loaded = load_policy("models:/btcrl-ppo/1")
    assert isinstance(loaded, LoadedEnsemble)
    assert [m.config.seed for m in loaded.members] == [3, 4]


@pytest.mark.slow  # two short SBX trainings: about 30 s
def test_an_ensemble_of_sbx_members_runs_compiled(tiny, sine_features) -> None:  # noqa: ANN001
    """SBX SAC and CrossQ members (flax parameters read into the compiled MLPs) give the mean
    of their own deterministic ``predict`` on the episode's observations."""
    pytest.importorskip("sbx")
    from btcrl.agents.algos import build_model
    from btcrl.env import BatchTradingEnv
    from btcrl.policy.ensemble import ensemble_of
    from btcrl.policy.loader import LoadedPolicy

    members = []
    for seed, algo in enumerate(("sac", "crossq")):
        config = tiny(**{"agent.algo": algo, "agent.backend": "sbx", "seed": seed})
        env = BatchTradingEnv(sine_features, config.env, config.train.n_envs, config.seed)
        model = build_model(config.agent, env, config.seed, "cpu")
        model.learn(256)
        members.append(LoadedPolicy(model, sine_features.spec, config, algo))
    ensemble = ensemble_of(members)
    policy = model_policy(ensemble.model.policy, ensemble.predict)
    assert isinstance(policy, EnsembleMlpPolicy)
    episode = run_episode(sine_features, members[0].config.env, policy, mode="eval")
    each = [m.model.predict(episode.observations, deterministic=True)[0] for m in members]
    expected = np.mean(np.stack(each), axis=0)
    np.testing.assert_allclose(episode.actions, expected, rtol=0, atol=1e-5)
    assert float(np.abs(each[0] - each[1]).max()) > 1e-3
