"""``btcrl train --seeds``: a seed ensemble trained as nested member runs, validated like one
model, registered as one pyfunc whose action is the mean of the members', and backtested
through the compiled runner."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from btcrl.agents.ensemble import run_ensemble_training
from btcrl.agents.training import load_train_features, train_split
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
        run_ensemble_training(tiny())
    with pytest.raises(ConfigError, match="cannot continue an ensemble"):
        run_ensemble_training(tiny(**{"train.seeds": [0, 1], "train.resume": "abc"}))
    with pytest.raises(
        ConfigError, match=r"train\.seeds=\[1, 1\] is invalid: seeds must be distinct"
    ):
        tiny(**{"train.seeds": [1, 1]})
