"""`btcrl pretrain` end to end on the bundled sample, on a real sqlite MLflow store."""

import mlflow
import pytest
import torch
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.tracking.encoder import load_encoder


@pytest.mark.slow
def test_pretrain_registers_a_loadable_encoder(tracking_uri: str, tmp_path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "pretrain",
            "--steps",
            "40",
            "--window",
            "16",
            "--start",
            "2024-10-01",
            "--data-dir",
            str(tmp_path / "data"),
            "--set",
            f"tracking.uri={tracking_uri}",
            "--set",
            "pretrain.eval_every=20",
            "--set",
            "pretrain.d_model=16",
            "--set",
            "pretrain.n_heads=2",
            "--set",
            "pretrain.torch_threads=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "encoder URI: models:/btcrl-encoder/1" in result.output
    mlflow.set_tracking_uri(tracking_uri)
    model, metadata = load_encoder("models:/btcrl-encoder@candidate")
    assert metadata["shape"]["window"] == 16
    assert metadata["feature_spec"]["symbol"] == "BTC/USDT"
    n_features = metadata["shape"]["n_features"]
    assert model.embed(torch.zeros(2, 16, n_features)).shape == (2, 16)
    run = mlflow.get_run(result.output.split("run id:")[1].split()[0])
    assert run.data.tags["btcrl.stage"] == "pretrain"
    assert "loss/holdout" in run.data.metrics
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"reconstruction.html", "config.yaml", "feature_spec.json"} <= logged
    # no terminal here: a progress line instead of a bar (at least the last step's)
    assert "pretrain: step 40/40 (100%), holdout loss" in result.output
    assert "Successfully registered model" not in result.output  # MLflow's own print
    page = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/reconstruction.html")
    assert '<script src="https://cdn.plot.ly' not in page  # plotly.js inline: offline
    assert len(page) > 1_000_000
