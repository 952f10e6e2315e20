"""Logged models carry names that tell them apart and the metrics that judged them (issue 24):
MLflow 3's LoggedModel, read back through MlflowClient from a real sqlite store."""

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from btcrl.agents import run_training
from btcrl.agents.run_info import logged_model_name
from btcrl.policy.loader import load_policy
from tests.agents.agent_data import sine_feature_set, tiny_config


def test_names_tell_train_segment_and_trial_models_apart(tracking_uri: str) -> None:
    config = tiny_config(tracking_uri, seed=7, **{"train.model_name": "wf.model"})
    assert logged_model_name(config) == "wf.model-s7"  # the '.' is replaced when logged
    assert logged_model_name(config, "seg3-test2025-01-01..2025-03-31") == "seg3-wf.model-s7"
    assert logged_model_name(config, "t12") == "t12-wf.model-s7"


def test_train_logs_a_named_model_with_its_validation_metrics_linked(
    tracking_uri: str,
) -> None:
    features = sine_feature_set(1500)
    config = tiny_config(tracking_uri, seed=3, **{"train.eval_every": 1024})
    result = run_training(config, features=features, name_prefix="seg2-test2025")
    client = MlflowClient()
    experiment = client.get_experiment_by_name(config.train.experiment).experiment_id
    (found,) = client.search_logged_models(
        experiment_ids=[experiment], filter_string=f"source_run_id = '{result.run_id}'"
    )
    assert found.name == "seg2-btcrl-ppo-s3"
    model = client.get_logged_model(found.model_id)
    linked = {m.key: m for m in model.metrics}
    run = client.get_run(result.run_id)
    chosen = {k: v for k, v in result.metrics.items() if k.startswith("val/")}
    assert chosen and {f"best/{k[4:]}" for k in chosen} <= set(linked)
    for key, value in chosen.items():  # the chosen checkpoint's val/* entries, linked
        assert linked[key].value == pytest.approx(value) and linked[key].run_id == run.info.run_id
        assert linked[key].model_id == found.model_id
    assert any(k.startswith("train_span/") for k in linked)
    history = client.get_metric_history(result.run_id, "val/sharpe")
    assert len({(m.step, m.timestamp) for m in history}) == len(history)  # not logged twice
    # the run's model by its old path and by its name, as btcrl and MLflow resolve them
    policy = load_policy(f"runs:/{result.run_id}/model")
    assert policy.source_run_id == result.run_id
    local = mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/{found.name}")
    assert (Path(local) / "MLmodel").is_file()
