"""The policy reads through a registered encoder: pretrain -> train -> backtest -> serve, and
a FeatureSpec mismatch is one line (real sqlite MLflow store, bundled sample)."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from btcrl.agents.pretraining import encoder_policy
from btcrl.cli import main
from btcrl.config import load_config
from btcrl.encoder.extractor import EncoderExtractor
from btcrl.env.params import observation_names
from btcrl.errors import CompatibilityError
from btcrl.features import load_feature_set
from btcrl.tracking import tags as tag_names
from btcrl.tracking.encoder import load_encoder

WINDOW = 8
ENCODER = "models:/btcrl-encoder@candidate"


def _sets(*items: str) -> list[str]:
    return [part for item in items for part in ("--set", item)]


def _data(tmp_path: Path) -> list[str]:
    return [f"data.data_dir={tmp_path / 'data'}", "data.start=2024-07-01", "data.end=2024-09-30"]


def _pretrain(tmp_path: Path, tracking_uri: str) -> None:
    args = ["pretrain", *_sets(
        *_data(tmp_path), f"tracking.uri={tracking_uri}", "pretrain.steps=20",
        f"pretrain.window={WINDOW}", "pretrain.d_model=16", "pretrain.n_heads=2",
        "pretrain.n_layers=1", "pretrain.eval_every=10", "pretrain.torch_threads=1",
    )]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_pretrain_train_backtest_serve(tracking_uri: str, tmp_path: Path) -> None:
    from btcrl.policy import load_policy
    from btcrl.policy.encoded import EncodedMlpPolicy
    from btcrl.policy.episode import ModelPolicy, model_policy, run_episode

    _pretrain(tmp_path, tracking_uri)
    train = ["train", *_sets(
        *_data(tmp_path), f"tracking.uri={tracking_uri}", f"agent.encoder={ENCODER}",
        "train.total_timesteps=128", "train.n_envs=2", "train.eval_every=128",
        "agent.n_steps=64", "agent.batch_size=64", "agent.n_epochs=1",
        "env.episode_length=64", "train.system_metrics=false", "train.torch_threads=1",
        "train.seeds=null",
    )]  # fmt: skip
    result = CliRunner().invoke(main, train)
    assert result.exit_code == 0, result.output
    uri = "models:/btcrl-ppo@candidate"
    loaded = load_policy(uri)
    assert loaded.config.env.window == WINDOW  # set from the encoder, in the logged config
    assert loaded.config.agent.encoder == ENCODER
    tags = mlflow.get_run(loaded.source_run_id).data.tags
    assert tags[tag_names.ENCODER_URI] == ENCODER
    # frozen: the policy's encoder holds the pre-trained weights unchanged
    extractor = loaded.model.policy.features_extractor
    assert isinstance(extractor, EncoderExtractor) and not extractor.trainable
    pretrained, _ = load_encoder(ENCODER)
    for name, tensor in pretrained.state_dict().items():
        torch.testing.assert_close(extractor.encoder.state_dict()[name], tensor, rtol=0, atol=0)
    # backtest: a windowed episode (torch-stepped) whose actions are SB3's predict
    config = load_config(
        None, [f"data.data_dir={tmp_path / 'data'}", "data.start=2024-10-01", "data.end=2024-10-20"]
    )
    features = load_feature_set(config.data, loaded.config.features)
    policy = model_policy(loaded.model.policy, loaded.predict)
    assert isinstance(policy, EncodedMlpPolicy)  # embeddings batched, the head compiled
    episode = run_episode(features, loaded.config.env, policy)
    assert episode.start_row == features.first_valid + WINDOW - 1
    assert episode.observations.shape[1] == 2 + WINDOW * features.features.shape[1]
    expected, _ = loaded.model.predict(episode.observations, deterministic=True)
    np.testing.assert_allclose(episode.actions, expected, atol=1e-5)
    # the torch-stepped episode sees the same windows and keeps the same books
    stepped = run_episode(features, loaded.config.env, ModelPolicy(loaded.predict))
    np.testing.assert_array_equal(stepped.observations[:, 1:-1], episode.observations[:, 1:-1])
    np.testing.assert_allclose(stepped.actions, episode.actions, atol=1e-5)
    np.testing.assert_allclose(stepped.equity, episode.equity, rtol=1e-4)
    backtest = ["backtest", "--model", uri, "--start", "2024-10-01", "--end", "2024-10-20",
                *_sets(f"data.data_dir={tmp_path / 'data'}", f"tracking.uri={tracking_uri}",
                       "backtest.plots=false")]  # fmt: skip
    result = CliRunner().invoke(main, backtest)
    assert result.exit_code == 0, result.output
    # serving: the pyfunc model takes the windowed observation
    served = mlflow.pyfunc.load_model(uri)
    names = list(observation_names(loaded.spec, WINDOW))
    assert served.metadata.get_input_schema().input_names() == names
    actions = served.predict(pd.DataFrame(episode.observations[:5], columns=names))
    np.testing.assert_allclose(actions, expected[:5], atol=1e-5)


@pytest.mark.slow
def test_feature_spec_mismatch_is_one_line(tracking_uri: str, tmp_path: Path) -> None:
    _pretrain(tmp_path, tracking_uri)
    other = load_config(
        None,
        [*_data(tmp_path), f"agent.encoder={ENCODER}", "features.strategies=[ott, supertrend]"],
    )
    features = load_feature_set(other.data, other.features)
    with pytest.raises(CompatibilityError, match="does not fit the data") as info:
        encoder_policy(other, features.spec)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_an_ensemble_through_an_encoder_names_it(tracking_uri: str, tmp_path: Path) -> None:
    """``btcrl train --seeds`` with an encoder: the ensemble's run names the encoder, as a
    single model's does."""
    _pretrain(tmp_path, tracking_uri)
    train = ["train", "--seeds", "0,1", *_sets(
        *_data(tmp_path), f"tracking.uri={tracking_uri}", f"agent.encoder={ENCODER}",
        "train.total_timesteps=128", "train.n_envs=2", "train.eval_every=128",
        "agent.n_steps=64", "agent.batch_size=64", "agent.n_epochs=1",
        "env.episode_length=64", "train.system_metrics=false", "train.torch_threads=1",
    )]  # fmt: skip
    result = CliRunner().invoke(main, train)
    assert result.exit_code == 0, result.output
    assert "ensemble of seeds [0, 1]" in result.output
    run_id = result.output.split("run id:")[1].split()[0]
    assert mlflow.get_run(run_id).data.tags[tag_names.ENCODER_URI] == ENCODER
