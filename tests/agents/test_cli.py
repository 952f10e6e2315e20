"""`btcrl train` end to end: MLproject-style empty options, adopting MLFLOW_RUN_ID, a SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from stable_baselines3 import PPO

from btcrl.agents import run_training
from btcrl.cli import main
from btcrl.config import with_overrides
from btcrl.tracking import ensure_experiment, start_run

FAST = [
    "--set", "train.eval_every=512",
    "--set", "train.seeds=null",  # one model: the ensemble default has its own tests
    "--set", "train.system_metrics=false",
    "--set", "train.torch_threads=1",
    "--set", "env.episode_length=128",
    "--set", "agent.n_steps=32",
    "--set", "agent.batch_size=128",
    "--set", "agent.n_epochs=1",
    "--set", "agent.net_arch=[16,16]",
    "--set", "features.prior.enabled=false",  # as tiny(): the resume reuses its features
]  # fmt: skip


def test_train_command_adopts_the_mlflow_run_and_prints_uris(
    tracking_uri: str,
    sample_data_dir: Path,
    monkeypatch,  # noqa: ANN001
) -> None:
    experiment_id = ensure_experiment("btcrl-train")
    outer = MlflowClient().create_run(experiment_id)  # what `mlflow run` creates
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    args = [
        "train", "--config", "", "--algo", "ppo", "--total-timesteps", "1024", "--n-envs", "8",
        "--seed", "", "--device", "cpu", "--source", "sample", "--start", "2025-01-01",
        "--end", "", "--backtest-start", "", "--backtest-end", "", "--data-dir",
        str(sample_data_dir), *FAST,
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"run id:    {outer.info.run_id}" in result.output
    assert "model URI: models:/btcrl-ppo/1" in result.output
    assert f"mlflow ui --backend-store-uri {tracking_uri}" in result.output  # not under cwd
    run = MlflowClient().get_run(outer.info.run_id)
    page = f"#/experiments/{run.info.experiment_id}/runs?viewStateShareKey=btcrl-leaderboard&"
    assert result.output.count("mlflow ui") == 1 and page in result.output  # classic view
    assert run.info.status == "FINISHED"
    assert run.data.params["train.total_timesteps"] == "1024"
    assert run.data.params["seed"] == "42"  # "" means: the config's value
    assert run.data.tags["btcrl.stage"] == "train"
    assert run.data.tags["mlflow.runName"].endswith("-ppo-BTCUSDT-1h")
    assert len(mlflow.search_runs(experiment_ids=[experiment_id], output_format="list")) == 1


def test_bad_option_is_one_line_and_exit_1(tracking_uri: str) -> None:
    result = CliRunner().invoke(main, ["train", "--algo", "dqn"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: config key agent.algo='dqn' is invalid: "
        "Input should be 'ppo', 'sac', 'tqc' or 'crossq'"
    ]


def _wait_for_checkpoint(experiment: str, timeout: float) -> str:
    client = MlflowClient()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        for run in runs:
            names = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
            if "checkpoints/last.zip" in names:
                return run.info.run_id
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint within {timeout} s")


def test_sigkilled_training_is_marked_killed_and_its_checkpoint_resumes(
    tracking_uri: str,
    sample_data_dir: Path,
    tiny,
    sample_features,  # noqa: ANN001
) -> None:
    command = [
        sys.executable, "-c", "from btcrl.cli import main; main()", "train",
        "--total-timesteps", "10000000", "--n-envs", "8", "--device", "cpu",
        "--start", "2025-01-01", "--data-dir", str(sample_data_dir), *FAST,
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "CI": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        run_id = _wait_for_checkpoint("btcrl-train", timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    client = MlflowClient()
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody could close it

    with start_run("btcrl-train", "train"):  # the next start cleans up
        pass
    killed = client.get_run(run_id)
    assert killed.info.status == "KILLED"
    assert str(proc.pid) in killed.data.tags["btcrl.end_reason"]

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoints/last.zip")
    assert PPO.load(path, device="cpu").num_timesteps >= 512
    config = with_overrides(tiny(), {"train.resume": run_id, "train.total_timesteps": 256})
    resumed = run_training(config, features=sample_features)
    assert client.get_run(resumed.run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_sigterm_ends_the_run_killed_at_once(tracking_uri: str, sample_data_dir: Path) -> None:
    command = [
        sys.executable, "-c", "from btcrl.cli import main; main()", "train",
        "--total-timesteps", "10000000", "--n-envs", "8", "--device", "cpu",
        "--start", "2025-01-01", "--data-dir", str(sample_data_dir), *FAST,
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "CI": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        run_id = _wait_for_checkpoint("btcrl-train", timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, output
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "KILLED"
    assert "signal 15" in run.data.tags["btcrl.end_reason"]
