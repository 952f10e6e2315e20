"""MLproject entry points hand their parameters to commands that accept them."""

import shlex
from pathlib import Path

import pytest
import yaml

from btcrl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "MLproject").read_text())


ENTRY_POINTS = ("ingest", "train", "backtest", "tune", "promote", "walkforward", "pretrain")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_point_defaults_parse(entry: str) -> None:
    point = SPEC["entry_points"][entry]
    defaults = {name: str(p.get("default", "")) for name, p in point["parameters"].items()}
    # MLflow substitutes shell-quoted values, so "" arrives as an empty argument
    command = point["command"].format(**{k: shlex.quote(v) for k, v in defaults.items()})
    argv = shlex.split(command)
    assert argv[:2] == ["btcrl", entry]
    ctx = main.commands[entry].make_context(entry, argv[2:])
    assert ctx.params.get("config_path") is None  # "" means "use the defaults"


def test_entry_points_cover_the_commands() -> None:
    assert set(SPEC["entry_points"]) == set(ENTRY_POINTS)


@pytest.mark.slow  # four `mlflow run` subprocesses with tiny budgets
def test_every_entry_point_runs_through_mlflow_run(tmp_path: Path) -> None:
    """`mlflow run . -e NAME --env-manager local`, as the README says, for every entry point."""
    import os
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "BTCRL_DATA_DIR": str(tmp_path / "data"),
        "BTCRL_TUNE_STORAGE": f"sqlite:///{tmp_path / 'studies.db'}",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_RUN_ID", None)
    runs = {
        "ingest": {},
        "train": {"total_timesteps": "1024", "n_envs": "4", "device": "cpu"},
        "tune": {"trials": "1", "budget_timesteps": "512", "study": "mlproject"},
        "backtest": {"model_uri": "models:/btcrl-ppo@candidate"},
    }
    for entry, params in runs.items():
        args = [str(Path(bin_dir) / "mlflow"), "run", str(ROOT), "-e", entry]
        args += ["--env-manager", "local", "--experiment-name", f"btcrl-{entry}"]
        for key, value in params.items():
            args += ["-P", f"{key}={value}"]
        done = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{entry}: {done.stderr[-3000:]}"
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(f"btcrl-{entry}")
        found = client.search_runs([experiment.experiment_id])
        assert {r.info.status for r in found} == {"FINISHED"}, entry
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        if entry in ("train", "tune"):
            assert {r.data.tags.get("btcrl.algo") for r in found} == {"ppo"}, entry
        if entry in ("train", "backtest"):
            contexts = {
                d.tags[0].value
                for r in found
                for d in client.get_run(r.info.run_id).inputs.dataset_inputs
            }
            want = {"training", "validation"} if entry == "train" else {"backtest"}
            assert contexts == want, entry
