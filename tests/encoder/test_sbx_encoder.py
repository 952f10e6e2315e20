"""A frozen pre-trained encoder with the SBX (JAX) backend: its embeddings are precomputed
observation columns (``btcrl.encoder.columns``), causal, carried inside the SBX policy's zip;
train -> compiled validation and backtest -> registry -> pyfunc on a real sqlite store."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("sbx")

from btcrl.agents.algos import build_model  # noqa: E402
from btcrl.cli import main  # noqa: E402
from btcrl.config import DataConfig, FeaturesConfig, load_config  # noqa: E402
from btcrl.encoder.columns import (  # noqa: E402
    embedded_features,
    embedded_observations,
    learner_inputs,
    policy_columns,
)
from btcrl.encoder.model import EncoderShape, MaskedEncoder  # noqa: E402
from btcrl.env import BatchTradingEnv  # noqa: E402
from btcrl.env.params import first_row, observation_names  # noqa: E402
from btcrl.errors import ConfigError  # noqa: E402
from btcrl.features import FeatureSet, load_feature_set  # noqa: E402
from btcrl.policy.algos import load_model  # noqa: E402
from btcrl.tracking import tags as tag_names  # noqa: E402
from btcrl.tracking.encoder import load_encoder  # noqa: E402

WINDOW, D_MODEL = 8, 16
ENCODER = "models:/btcrl-encoder@candidate"


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> FeatureSet:
    data = DataConfig(
        data_dir=tmp_path_factory.mktemp("data"), start="2024-09-01", end="2024-10-31"
    )
    return load_feature_set(data, FeaturesConfig())


def _encoder(n_features: int, seed: int = 0) -> MaskedEncoder:
    torch.manual_seed(seed)
    return MaskedEncoder(EncoderShape(n_features, WINDOW, D_MODEL, 2, 1, 32)).eval()


def test_embedding_columns_never_read_a_later_row(features: FeatureSet) -> None:
    """Row t's embedding reads rows t-W+1 .. t only: poisoning every row after t leaves the
    embedded rows <= t bit for bit, and changes the rows after."""
    encoder = _encoder(features.features.shape[1])
    full = embedded_features(features, encoder)
    n = features.features.shape[1]
    assert full.features.shape[1] == n + D_MODEL
    assert full.first_valid == features.first_valid + WINDOW - 1
    assert full.spec.feature_names[n:] == tuple(f"embedding_{k}" for k in range(D_MODEL))
    np.testing.assert_array_equal(full.features[:, :n], features.features)
    for t in (full.first_valid, full.first_valid + 100, len(features) - 2):
        poisoned = features.features.copy()
        poisoned[t + 1 :] = 1e6
        cut = embedded_features(_with(features, poisoned), encoder)
        np.testing.assert_array_equal(cut.features[: t + 1], full.features[: t + 1])
        assert not np.array_equal(cut.features[t + 1 :, n:], full.features[t + 1 :, n:])


def _with(features: FeatureSet, values: np.ndarray) -> FeatureSet:
    from dataclasses import replace

    return replace(features, features=values)


def test_the_learner_starts_where_the_windowed_episode_starts(features: FeatureSet) -> None:
    config = load_config(None, ["env.window=8"])
    embedded, env = learner_inputs(features, config.env, _encoder(features.features.shape[1]))
    assert env.window == 1
    assert first_row(embedded, env.window) == first_row(features, config.env.window)


def test_trainable_encoder_with_sbx_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="encoder_trainable") as info:
        load_config(None, [
            "agent.algo=sac", "agent.backend=sbx", f"agent.encoder={ENCODER}",
            "agent.encoder_trainable=true",
        ])  # fmt: skip
    assert "\n" not in str(info.value)
    frozen = load_config(None, ["agent.algo=tqc", "agent.backend=sbx", f"agent.encoder={ENCODER}"])
    assert frozen.agent.encoder == ENCODER


def test_the_encoder_is_saved_inside_the_sbx_policy(features: FeatureSet, tmp_path: Path) -> None:
    """build_model keeps the encoder in the policy; SBX's zip carries it; the loaded policy
    reads windowed observations through it (and nothing else reads them)."""
    config = load_config(None, [
        "agent.algo=sac", "agent.backend=sbx", "agent.net_arch=[16, 16]", "agent.device=cpu",
        "env.window=8", "env.action_mode=absolute", "features.prior.enabled=false",
    ])  # fmt: skip
    encoder = _encoder(features.features.shape[1])
    learner, env_config = learner_inputs(features, config.env, encoder)
    env = BatchTradingEnv(learner, env_config, 2, 0)
    model = build_model(config.agent, env, 0, "cpu", encoder=encoder)
    env.close()
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = load_model("sac", path, env=None, device="cpu")
    columns = policy_columns(loaded.policy)
    assert columns is not None
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(columns.encoder.state_dict()[name], tensor, rtol=0, atol=0)
    size = 2 + WINDOW * features.features.shape[1]
    obs = np.random.default_rng(0).normal(0, 1, (16, size)).astype(np.float32)
    inputs = embedded_observations(loaded.policy, obs)
    assert inputs.shape == (16, 2 + features.features.shape[1] + D_MODEL)
    np.testing.assert_array_equal(inputs[:, 1:-1][:, : features.features.shape[1]],
                                  obs[:, 1:-1][:, -features.features.shape[1] :])  # fmt: skip
    expected, _ = model.predict(inputs, deterministic=True)
    np.testing.assert_array_equal(loaded.predict(inputs, deterministic=True)[0], expected)


def _sets(*items: str) -> list[str]:
    return [part for item in items for part in ("--set", item)]


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_sbx_sac_with_a_pretrained_encoder_end_to_end(tracking_uri: str, tmp_path: Path) -> None:
    """Pretrain a tiny encoder, train a tiny SBX SAC through it, resume it; the registered
    model's compiled episode equals SBX's deterministic predict on the same observations to
    1e-5, its backtest runs and its pyfunc recomputes the embeddings from the windows."""
    from btcrl.policy import load_policy
    from btcrl.policy.encoded import EncodedMlpPolicy
    from btcrl.policy.episode import ModelPolicy, model_policy, run_episode

    data = [f"data.data_dir={tmp_path / 'data'}", "data.start=2024-07-01", "data.end=2024-09-30"]
    _invoke(["pretrain", *_sets(
        *data, f"tracking.uri={tracking_uri}", "pretrain.steps=10", f"pretrain.window={WINDOW}",
        f"pretrain.d_model={D_MODEL}", "pretrain.n_heads=2", "pretrain.n_layers=1",
        "pretrain.eval_every=10", "pretrain.torch_threads=1",
    )])  # fmt: skip
    train = ["train", *_sets(
        *data, f"tracking.uri={tracking_uri}", f"agent.encoder={ENCODER}", "agent.algo=sac",
        "agent.backend=sbx", "agent.net_arch=[16, 16]", "agent.learning_starts=64",
        "agent.off_policy_batch_size=32", "agent.buffer_size=2000", "agent.device=cpu",
        "train.total_timesteps=256", "train.n_envs=2", "train.eval_every=128",
        "env.episode_length=64", "train.system_metrics=false", "train.torch_threads=1",
        "env.exposure_deadzone=0", "train.seeds=null",
    )]  # fmt: skip
    _invoke(train)
    uri = "models:/btcrl-sac/1"  # (@candidate only when it traded on validation)
    loaded = load_policy(uri)
    assert loaded.config.env.window == WINDOW and loaded.config.agent.encoder == ENCODER
    columns = policy_columns(loaded.model.policy)
    assert columns is not None  # frozen: the pre-trained weights, unchanged
    pretrained, _ = load_encoder(ENCODER)
    for name, tensor in pretrained.state_dict().items():
        torch.testing.assert_close(columns.encoder.state_dict()[name], tensor, rtol=0, atol=0)
    # the compiled episode (embeddings precomputed, numba MLP) against SBX's own predict
    config = load_config(None, [f"data.data_dir={tmp_path / 'data'}",
                                "data.start=2024-10-01", "data.end=2024-10-20"])  # fmt: skip
    features = load_feature_set(config.data, loaded.config.features)
    policy = model_policy(loaded.model.policy, loaded.predict)
    assert isinstance(policy, EncodedMlpPolicy) and policy.keeps_rows
    episode = run_episode(features, loaded.config.env, policy)
    assert episode.start_row == features.first_valid + WINDOW - 1
    assert episode.observations.shape[1] == 2 + WINDOW * features.features.shape[1]
    inputs = embedded_observations(loaded.model.policy, episode.observations)
    expected, _ = loaded.model.policy.predict(inputs, deterministic=True)
    np.testing.assert_allclose(episode.actions, expected, atol=1e-5)
    assert np.abs(expected).max() > 1e-3
    stepped = run_episode(features, loaded.config.env, ModelPolicy(loaded.predict))
    np.testing.assert_allclose(stepped.actions, episode.actions, atol=1e-5)
    np.testing.assert_allclose(stepped.equity, episode.equity, rtol=1e-4)
    _invoke(["backtest", "--model", uri, "--start", "2024-10-01", "--end", "2024-10-20",
             *_sets(f"data.data_dir={tmp_path / 'data'}", f"tracking.uri={tracking_uri}",
                    "backtest.plots=false")])  # fmt: skip
    served = mlflow.pyfunc.load_model(uri)
    names = list(observation_names(loaded.spec, WINDOW))
    assert served.metadata.get_input_schema().input_names() == names
    actions = served.predict(pd.DataFrame(episode.observations[:5], columns=names))
    np.testing.assert_allclose(actions, expected[:5], atol=1e-5)
    # resume: the checkpoint carries the encoder, training continues through it
    _invoke([*train, "--set", f"train.resume={loaded.source_run_id}"])


@pytest.mark.slow
def test_walkforward_pretrains_per_segment_for_sbx(tracking_uri: str, tmp_path: Path) -> None:
    """``pretrain.per_segment`` with an SBX learner: each segment trains through its own
    encoder's columns and the stitch trades the in-memory models on windowed test bars."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "walkforward"))
    from test_resume import tiny_walkforward

    from btcrl.walkforward import run_walkforward

    config = tiny_walkforward(tmp_path, tracking_uri, **{
        "pretrain.per_segment": True, "pretrain.steps": 10, "pretrain.window": WINDOW,
        "pretrain.d_model": D_MODEL, "pretrain.n_heads": 2, "pretrain.n_layers": 1,
        "pretrain.eval_every": 10, "pretrain.torch_threads": 1, "agent.algo": "sac",
        "agent.backend": "sbx", "agent.learning_starts": 64, "agent.buffer_size": 2000,
        "agent.off_policy_batch_size": 32,
    })  # fmt: skip
    result = run_walkforward(config)
    assert (result.trained, result.finished) == (2, 2)
    assert result.metrics["segments/stitched"] == 2
    client = mlflow.tracking.MlflowClient()
    encoders = {
        client.get_run(str(run_id)).data.tags[tag_names.ENCODER_URI]
        for run_id in result.table["run_id"]
    }
    assert len(encoders) == 2
