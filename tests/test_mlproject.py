"""MLproject entry points hand their parameters to commands that accept them."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from btcrl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "MLproject").read_text())


ENTRY_POINTS = ("ingest", "train", "backtest", "tune", "promote", "walkforward", "pretrain")


#: the -P parameters the docs use that each entry point does not declare (they become options)
EXTRA = {
    "ingest": {
        "config": str(ROOT / "configs" / "default.yaml"),
        "start": "2024-01-01",
        "end": "2024-06-30",
    },
    "train": {"total_timesteps": "1024", "n_envs": "4", "seed": "3", "backtest_end": "2025-03-31"},
    "backtest": {"model_uri": "models:/btcrl-ppo@candidate", "end": "2025-03-31"},
    "tune": {"budget_timesteps": "512", "storage": "sqlite:///x.db", "metric": "val/sharpe"},
    "promote": {"min_dsr": "0.5"},
    "walkforward": {"train_months": "8", "segments": "0,1", "total_timesteps": "512"},
    "pretrain": {"steps": "20", "window": "16"},
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_point_commands_parse_as_mlflow_builds_them(entry: str) -> None:
    """The command MLflow builds (declared parameters substituted, other -P appended as
    ``--name value``) parses, with the extra parameters reaching their options."""
    from mlflow.projects._project_spec import load_project

    point = load_project(str(ROOT)).get_entry_point(entry)
    given = {"model_uri": "models:/btcrl-ppo/1"} if entry == "promote" else {}
    for params in (given, {**given, **EXTRA[entry]}):
        argv = shlex.split(point.compute_command(params, storage_dir=None))
        assert argv[:2] == ["btcrl", entry]
        parent = main.make_context("btcrl", [entry], resilient_parsing=True)
        ctx = main.commands[entry].make_context(entry, argv[2:], parent=parent)
        config = params.get("config")
        assert ctx.params.get("config_path") == (config and Path(config)), entry
    if entry == "train":
        assert ctx.params["total_timesteps"] == 1024 and ctx.params["n_envs"] == 4


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_parameter_is_declared_with_an_empty_default(entry: str) -> None:
    """MLflow logs every declared parameter on the run: '' would be noise beside btcrl's."""
    for name, spec in SPEC["entry_points"][entry]["parameters"].items():
        assert spec.get("default", None) != "", f"{entry}.{name}"


def test_entry_points_cover_the_commands() -> None:
    assert set(SPEC["entry_points"]) == set(ENTRY_POINTS)


def _mlflow_run(
    tmp_path: Path, entry: str, params: dict[str, str]
) -> "subprocess.CompletedProcess[str]":
    """`mlflow run . -e ENTRY --env-manager local` into a private store under ``tmp_path``."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": _uri(tmp_path),
        "BTCRL_DATA_DIR": str(tmp_path / "data"),
        "BTCRL_TUNE_STORAGE": f"sqlite:///{tmp_path / 'studies.db'}",
        "BTCRL_WALKFORWARD_STORAGE": f"sqlite:///{tmp_path / 'walkforward.db'}",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(leaked, None)
    args = [str(Path(bin_dir) / "mlflow"), "run", str(ROOT), "-e", entry]
    args += ["--env-manager", "local", "--experiment-name", f"btcrl-{entry}"]
    for key, value in params.items():
        args += ["-P", f"{key}={value}"]
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def _check_runs(tmp_path: Path, entry: str) -> None:
    """The entry point's runs finished in its named experiment, outside the GenAI view, with
    btcrl.algo and the candles as dataset inputs where they apply."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_uri(tmp_path))
    experiment = client.get_experiment_by_name(f"btcrl-{entry}")
    found = client.search_runs([experiment.experiment_id])
    assert {r.info.status for r in found} == {"FINISHED"}, entry
    for r in found:  # what mlflow run logged: values given or defaulted, never ''
        assert "" not in r.data.params.values(), (entry, r.data.params)
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


TRAIN = {"total_timesteps": "1024", "n_envs": "4", "device": "cpu"}
TUNE = {"trials": "1", "budget_timesteps": "512", "study": "mlproject"}


def test_train_and_tune_run_through_mlflow_run(tmp_path: Path) -> None:
    """The two entry points a team runs most, through `mlflow run` in the default suite."""
    for entry, params in (("train", TRAIN), ("tune", TUNE)):
        done = _mlflow_run(tmp_path, entry, params)
        assert done.returncode == 0, f"{entry}: {done.stderr[-3000:]}"
        _check_runs(tmp_path, entry)


@pytest.mark.slow  # one `mlflow run` subprocess per entry point, tiny budgets
def test_every_entry_point_runs_through_mlflow_run(tmp_path: Path) -> None:
    """`mlflow run . -e NAME --env-manager local`, as the README says, for every entry point."""
    runs = {
        "ingest": {},
        "train": TRAIN,
        "tune": TUNE,
        "backtest": {"model_uri": "models:/btcrl-ppo@candidate"},
        "pretrain": {"steps": "20", "window": "16", "device": "cpu"},
        "walkforward": {
            "train_months": "8",
            "test_months": "3",
            "step_months": "3",
            "total_timesteps": "512",
            "segments": "0,1",
            "name": "mlproject",
        },  # fmt: skip
    }
    for entry, params in runs.items():
        done = _mlflow_run(tmp_path, entry, params)
        assert done.returncode == 0, f"{entry}: {done.stderr[-3000:]}"
        _check_runs(tmp_path, entry)
    # the walk-forward's challenger fails the gate (its DSR is far below 0.95): mlflow run
    # reports the command's exit 1 and the reason is one line
    done = _mlflow_run(tmp_path, "promote", {"model_uri": "models:/btcrl-wf-ppo@challenger"})
    assert done.returncode != 0
    assert "DSR" in done.stdout + done.stderr
