"""``btcrl walkforward --pretrain``: each segment's encoder learns from its train window only
(poisoned test bars leave its weights unchanged) and is pre-trained once per segment."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from btcrl.config import load_config
from btcrl.data.sample import load_sample
from btcrl.tracking import tags as tag_names
from btcrl.tracking.encoder import load_encoder
from btcrl.walkforward.split import Segment
from btcrl.walkforward.train import segment_config, segment_encoder
from btcrl.walkforward.windows import window_features

SEGMENT = Segment(
    index=0,
    train_start=pd.Timestamp("2024-06-01", tz="UTC"),
    val_start=pd.Timestamp("2024-08-01", tz="UTC"),
    train_stop=pd.Timestamp("2024-09-01", tz="UTC"),
    test_start=pd.Timestamp("2024-09-01", tz="UTC"),
    test_stop=pd.Timestamp("2024-10-01", tz="UTC"),
)


def _config(tmp_path: Path, tracking_uri: str, name: str):  # noqa: ANN202
    config = load_config(None, [
        f"data.data_dir={tmp_path / 'data'}", f"tracking.uri={tracking_uri}",
        f"walkforward.name={name}", "pretrain.per_segment=true", "pretrain.steps=15",
        "pretrain.window=8", "pretrain.d_model=16", "pretrain.n_heads=2", "pretrain.n_layers=1",
        "pretrain.eval_every=15", "pretrain.torch_threads=1",
    ])  # fmt: skip
    return segment_config(config, SEGMENT, 3)


@pytest.mark.slow
def test_segment_encoder_never_sees_test_bars(tracking_uri: str, tmp_path: Path) -> None:
    candles = load_sample()
    poisoned = candles.copy()
    after = poisoned.index >= SEGMENT.test_start
    poisoned.loc[after, ["open", "high", "low", "close"]] *= 3.0
    poisoned.loc[after, "volume"] *= 100.0
    uris, tests = [], []
    for name, frame in (("clean", candles), ("poisoned", poisoned)):
        config = _config(tmp_path, tracking_uri, name)
        tests.append(
            window_features(
                frame, config.features, config.data, SEGMENT.test_start, SEGMENT.test_stop
            )
        )
        train = window_features(
            frame, config.features, config.data, SEGMENT.train_start, SEGMENT.train_stop
        )
        linked = segment_encoder(config, train, SEGMENT, 0, None)
        uris.append(linked.agent.encoder)
        # a second job of the segment (another seed) reuses it: once per segment
        again = segment_encoder(_config(tmp_path, tracking_uri, name), train, SEGMENT, 0, None)
        assert again.agent.encoder == linked.agent.encoder
    assert not np.array_equal(tests[0].features, tests[1].features)  # the poison is there
    assert uris[0] != uris[1]
    (clean, meta), (dirty, _) = load_encoder(uris[0]), load_encoder(uris[1])
    assert meta["train_end"] < SEGMENT.val_start.isoformat()  # validation tail kept out too
    for key, tensor in clean.state_dict().items():
        torch.testing.assert_close(dirty.state_dict()[key], tensor, rtol=0, atol=0)
    run = mlflow.get_run(meta["run_id"])
    assert run.data.tags[tag_names.ENCODER_URI] == uris[0]
    assert run.data.tags["btcrl.walkforward.segment"] == "0"


@pytest.mark.slow
def test_walkforward_with_pretrain_stitches_in_the_same_process(
    tracking_uri: str, tmp_path: Path
) -> None:
    """End to end, one in-process worker: every segment pre-trains its encoder, trains
    through it (env.window follows the encoder), and the stitch trades the in-memory models
    under the window they were trained with."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "walkforward"))
    from test_resume import tiny_walkforward

    from btcrl.walkforward import run_walkforward

    config = tiny_walkforward(tmp_path, tracking_uri, **{
        "pretrain.per_segment": True, "pretrain.steps": 10, "pretrain.window": 8,
        "pretrain.d_model": 16, "pretrain.n_heads": 2, "pretrain.n_layers": 1,
        "pretrain.eval_every": 10, "pretrain.torch_threads": 1,
    })  # fmt: skip
    result = run_walkforward(config)
    assert (result.trained, result.finished) == (2, 2)
    assert result.metrics["segments/stitched"] == 2
    client = mlflow.tracking.MlflowClient()
    encoders = set()
    for run_id in result.table["run_id"]:
        tags = client.get_run(str(run_id)).data.tags
        encoders.add(tags[tag_names.ENCODER_URI])
    assert len(encoders) == 2  # one encoder per segment, linked from its child run
