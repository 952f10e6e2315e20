"""Smoke tests of run_training: every algorithm, every artifact, tag, metric and the registry."""

import re

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from btcrl.agents import run_training
from btcrl.agents.callbacks import TrainingDivergedError
from btcrl.agents.run_info import run_params
from btcrl.env import BatchTradingEnv
from btcrl.errors import BtcrlError, ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy import load_policy
from btcrl.policy.act import deterministic_act
from btcrl.policy.algos import algorithm_class

TRAIN_CURVES = {"ppo": "train/value_loss", "sac": "train/actor_loss", "tqc": "train/critic_loss"}


def _observations(features: FeatureSet, config) -> np.ndarray:  # noqa: ANN001
    """Real validation-span observations plus random ones, float32 (N, obs_size)."""
    env = BatchTradingEnv(features.rows(len(features) - 300, len(features)), config.env, 16, 0)
    real = env.reset()
    noise = np.random.default_rng(0).normal(size=real.shape).astype(np.float32)
    return np.concatenate([real, noise])


@pytest.mark.parametrize("algo", ["ppo", "sac", "tqc"])
def test_smoke_run_is_fully_tracked_and_registered(
    algo: str,
    tiny,
    sample_features: FeatureSet,
    tmp_path,  # noqa: ANN001
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = tiny(**{"agent.algo": algo})
    result = run_training(config, features=sample_features)
    assert "Successfully registered" not in capfd.readouterr().err  # MLflow's prints: -v only
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params == run_params(config)  # only what applies; config.yaml holds the rest
    assert not any(k.startswith(("backtest.", "tune.", "tracking.")) for k in params)
    assert ("agent.buffer_size" in params) is (algo != "ppo")
    assert ("agent.n_steps" in params) is (algo == "ppo")
    assert ("agent.top_quantiles_to_drop_per_net" in params) is (algo == "tqc")
    assert params["agent.algo"] == algo and params["seed"] == "42"
    inputs = {d.tags[0].value for d in run.inputs.dataset_inputs}
    assert inputs == {"training", "validation"}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    tags = run.data.tags
    assert tags["btcrl.stage"] == "train" and tags["btcrl.algo"] == algo
    assert tags["btcrl.data_hash"] == sample_features.spec.data_hash != ""
    assert (tags["btcrl.symbol"], tags["btcrl.timeframe"]) == ("BTC/USDT", "1h")
    assert tags["btcrl.val_start"] > tags["btcrl.train_end"] > tags["btcrl.train_start"]
    assert "mlflow.source.git.commit" in tags
    assert re.fullmatch(rf"s42-\d{{4}}T\d{{4}}-{algo}-BTCUSDT-1h", run.info.run_name)

    val = client.get_metric_history(result.run_id, "val/sharpe")
    assert [m.step for m in val][:2] == [1024, 2048]
    for curve in (TRAIN_CURVES[algo], "time/fps", "rollout/ep_rew_mean"):
        assert client.get_metric_history(result.run_id, curve), curve
    assert set(result.metrics) >= {
        "val/total_return",
        "val/sharpe",
        "val/max_drawdown",
        "val/trades",
        "val/exposure",
        "val/costs",
        "val/return_before_costs",
        "train_span/total_return",
        "train_span/return_before_costs",
    }
    logged = client.get_run(result.run_id).data.metrics
    for key in ("train_span/total_return", "train_span/return_before_costs", "train_span/costs"):
        assert logged[key] == pytest.approx(result.metrics[key]), key
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert artifacts >= {
        "config.yaml",
        "feature_spec.json",
        "actor.pt",
        "model.zip",
        "metrics.json",
        "checkpoints",
    }

    assert result.model_version == 1 and result.model_uri == f"models:/btcrl-{algo}/1"
    alias = client.get_model_version_by_alias(f"btcrl-{algo}", "candidate")
    assert str(alias.version) == "1" and alias.run_id == result.run_id
    assert alias.tags["btcrl.algo"] == algo and alias.tags["btcrl.source_run_id"] == run.info.run_id
    assert alias.tags["btcrl.symbol"] == "BTC/USDT" and alias.tags["btcrl.timeframe"] == "1h"
    assert alias.tags["btcrl.val_start"] == tags["btcrl.val_start"]
    assert alias.tags["btcrl.val_sharpe"] == f"{run.data.metrics['best/sharpe']:.4f}"
    assert f"source run {run.info.run_id}" in alias.description

    obs = _observations(sample_features, config)
    pyfunc = mlflow.pyfunc.load_model(f"models:/btcrl-{algo}@candidate")
    sb3_zip = mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="model.zip", dst_path=str(tmp_path)
    )
    sb3 = algorithm_class(algo).load(sb3_zip, device="cpu")
    expected = sb3.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(deterministic_act(sb3)(obs), expected)  # what validation uses
    names = list(sample_features.spec.observation_names)
    assert pyfunc.metadata.get_input_schema().input_names() == names
    assert pyfunc.metadata.metadata["feature_spec"]["symbol"] == "BTC/USDT"
    actions = pyfunc.predict(pd.DataFrame(obs, columns=names))
    assert actions.dtype == np.float32 and actions.shape == (len(obs), 2)
    np.testing.assert_array_equal(actions, expected)
    assert np.abs(actions).max() <= 1.0


def test_load_policy_accepts_every_uri_form(tiny, sample_features: FeatureSet, tmp_path) -> None:  # noqa: ANN001
    config = tiny(**{"train.eval_every": 4096})
    result = run_training(config, features=sample_features)
    obs = _observations(sample_features, config)
    local = mlflow.artifacts.download_artifacts(  # MLflow finds a run's model by its name
        f"runs:/{result.run_id}/btcrl-ppo-s{config.seed}", dst_path=str(tmp_path / "local")
    )
    uris = [
        "models:/btcrl-ppo@candidate",
        "models:/btcrl-ppo/1",
        f"runs:/{result.run_id}/model",
        local,
    ]
    reference = None
    for uri in uris:
        policy = load_policy(uri)
        assert policy.source_run_id == result.run_id, uri
        assert policy.spec == sample_features.spec
        assert policy.config == config
        actions = policy.predict(obs)
        assert actions.dtype == np.float32 and actions.shape == (len(obs), 2)
        reference = actions if reference is None else reference
        np.testing.assert_array_equal(actions, reference)
    assert (policy.model_name, policy.model_version) == (None, None)
    assert load_policy(uris[0]).model_version == 1

    # actor.pt is the policy's state dict: a fresh policy loaded with it acts the same
    actor = mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="actor.pt", dst_path=str(tmp_path)
    )
    fresh = load_policy(uris[1]).model
    with torch.no_grad():
        for p in fresh.policy.parameters():
            p.zero_()
    fresh.policy.load_state_dict(torch.load(actor))
    np.testing.assert_array_equal(fresh.predict(obs, deterministic=True)[0], reference)

    for bad, message in (
        ("models:/btcrl-ppo@nope", "not found in the registry"),
        ("models:/no-such-model/1", "not found in the registry"),
        (str(tmp_path / "missing"), "is not an MLflow model directory"),
        ("s3x://bucket/model", "is not supported"),
    ):
        with pytest.raises(BtcrlError, match=f"{re.escape(bad)}.* {message}"):
            load_policy(bad)
    with pytest.raises(BtcrlError, match=r"expected \(N, 38\)|expected \(N, "):
        load_policy(uris[1]).predict(np.zeros((1, 3), np.float32))


def test_pruning_ends_the_run_killed_and_propagates(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    seen: list[tuple[int, dict[str, float]]] = []

    def prune(step: int, metrics: dict[str, float]) -> None:
        seen.append((step, metrics))
        raise optuna.TrialPruned(f"pruned at {step}")

    with pytest.raises(optuna.TrialPruned, match="^pruned at "):
        run_training(
            tiny(),
            features=sine_features,
            on_validation=prune,
            extra_tags={"btcrl.trial": "3"},
            stop_exceptions=(optuna.TrialPruned,),
        )
    assert seen[0][0] == 1024 and "val/sharpe" in seen[0][1]
    runs = mlflow.search_runs(experiment_names=["btcrl-train"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "KILLED"
    assert run.data.tags["btcrl.end_reason"] == "TrialPruned: pruned at 1024"
    assert run.data.tags["btcrl.trial"] == "3"
    assert MlflowClient().search_registered_models() == []


def test_diverged_training_fails_the_run_with_a_reason(
    tiny,
    sine_features: FeatureSet,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    from btcrl.agents import training

    real_build = training.build_model

    def poisoned(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        model = real_build(*args, **kwargs)
        with torch.no_grad():
            next(model.policy.parameters()).fill_(float("nan"))
        return model

    monkeypatch.setattr(training, "build_model", poisoned)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        run_training(tiny(), features=sine_features)
    run = mlflow.search_runs(experiment_names=["btcrl-train"], output_format="list")[0]
    assert run.info.status == "FAILED"
    reason = run.data.tags["btcrl.end_reason"]
    assert reason.startswith("TrainingDivergedError: ") and "NaN" in reason


def test_early_stop_after_patience_validations_without_gain(
    tiny,
    sine_features: FeatureSet,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    from btcrl.agents import callbacks

    flat = {"val/sharpe": 0.5, "val/total_return": 0.0}
    monkeypatch.setattr(callbacks, "evaluate_policy", lambda *args, **kwargs: dict(flat))
    steps: list[int] = []
    config = tiny(**{"train.total_timesteps": 16384, "train.early_stop_patience": 2})
    result = run_training(
        config, features=sine_features, on_validation=lambda t, m: steps.append(t), progress=True
    )
    assert steps == [1024, 2048, 3072]  # the first sets the best, two more without gain
    assert {k: v for k, v in result.metrics.items() if k.startswith("val/")} == flat
    history = MlflowClient().get_metric_history(result.run_id, "val/sharpe")
    assert [m.step for m in history] == steps


def test_validation_logs_exactly_the_documented_metrics(sine_features: FeatureSet) -> None:
    from btcrl.agents.split import split_feature_set
    from btcrl.agents.validation import VALIDATION_METRICS, evaluate_policy
    from btcrl.config import EnvConfig

    span = split_feature_set(sine_features, 0.9).validation
    metrics = evaluate_policy(span, EnvConfig(), lambda obs: np.ones((1, 2), np.float32), 8760.0)
    assert tuple(metrics) == VALIDATION_METRICS


def test_tracking_cannot_be_switched_off_for_training(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=r"tracking.enabled=false"):
        run_training(tiny(**{"tracking.enabled": False}), features=sine_features)
    with pytest.raises(ConfigError, match=r"train.best_metric='val/nope' is not"):
        run_training(tiny(**{"train.best_metric": "val/nope"}), features=sine_features)


def test_never_finite_validation_keeps_a_usable_checkpoint(
    tiny,
    sine_features: FeatureSet,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """A best metric that is never finite (e.g. a flat policy's NaN Sharpe) still leaves a
    best checkpoint: the first validation is the best so far, and training finishes."""
    from btcrl.agents import callbacks

    nan = {"val/sharpe": float("nan"), "val/total_return": 0.0}
    monkeypatch.setattr(callbacks, "evaluate_policy", lambda *args, **kwargs: dict(nan))
    result = run_training(tiny(**{"train.total_timesteps": 3072}), features=sine_features)
    assert mlflow.get_run(result.run_id).info.status == "FINISHED"
    artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id, "checkpoints")}
    assert "checkpoints/best.zip" in artifacts
