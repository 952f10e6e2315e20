"""Opening the store: first-ever commands racing on one fresh sqlite file, the experiment
kind the MLflow UI reads, and quiet MLflow loggers."""

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from btcrl.config import TrackingConfig
from btcrl.tracking import configure_tracking, ensure_experiment, start_run
from btcrl.tracking.tags import CLASSIC_EXPERIMENT_KIND, EXPERIMENT_KIND

_RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from btcrl.config import TrackingConfig
    from btcrl.tracking import configure_tracking, start_run
    go = Path(sys.argv[2])
    while not go.exists():  # imports done: start together
        time.sleep(0.01)
    configure_tracking(TrackingConfig(uri=sys.argv[1]))
    with start_run("btcrl-race", "train", run_name=f"racer-{sys.argv[3]}"):
        pass
    """
)


@pytest.mark.slow  # three interpreters importing MLflow
def test_first_commands_racing_on_a_fresh_store_all_succeed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"  # no file, no folder yet
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_RUN_ID", None)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, uri, str(go), str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    time.sleep(1.0)
    go.touch()
    results = [(proc.wait(timeout=180), proc.stderr.read()) for proc in racers]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0, 0], [err[-800:] for _, err in results]
    runs = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("btcrl-race").experiment_id]
    )
    assert sorted(r.info.run_name for r in runs) == ["racer-0", "racer-1", "racer-2"]
    assert all("already exists" not in err for _, err in results)


def test_experiments_open_in_the_classic_view(tracking_uri: str) -> None:
    experiment_id = ensure_experiment("btcrl-kind")
    tags = MlflowClient().get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND] == CLASSIC_EXPERIMENT_KIND == "custom_model_development"
    # an experiment made elsewhere (older btcrl, the UI) gets the tag on first use
    other = mlflow.create_experiment("made-elsewhere")
    assert EXPERIMENT_KIND not in MlflowClient().get_experiment(other).tags
    with start_run("made-elsewhere", "train"):
        pass
    assert MlflowClient().get_experiment(other).tags[EXPERIMENT_KIND] == CLASSIC_EXPERIMENT_KIND


def test_mlflow_info_lines_stay_quiet_unless_verbose(tracking_uri: str) -> None:
    root = logging.getLogger()
    before = root.level, logging.getLogger("mlflow").level
    try:
        root.setLevel(logging.WARNING)
        logging.getLogger("mlflow").setLevel(logging.NOTSET)
        configure_tracking(TrackingConfig(uri=tracking_uri))
        assert logging.getLogger("mlflow").getEffectiveLevel() == logging.WARNING
    finally:
        root.setLevel(before[0])
        logging.getLogger("mlflow").setLevel(before[1])


def test_mlflow_defaults_store_under_mlflow_run_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlflow run` without a tracking URI hands btcrl MLflow's ./mlflow.db: a second store."""
    from btcrl.errors import ConfigError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123")
    with pytest.raises(ConfigError) as caught:
        configure_tracking(TrackingConfig(), project_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"export MLFLOW_TRACKING_URI=sqlite:///{tmp_path}/mlruns/mlflow.db" in message
    monkeypatch.delenv("MLFLOW_RUN_ID")  # a user who asks for ./mlflow.db gets it
    monkeypatch.chdir(tmp_path)
    assert configure_tracking(TrackingConfig(), project_dir=tmp_path) == "sqlite:///mlflow.db"


def test_a_study_lives_beside_its_tracking_store(tmp_path: Path) -> None:
    from btcrl.tracking.store import study_storage_beside

    elsewhere = f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"
    assert study_storage_beside(elsewhere, "wf", tmp_path) == (
        f"sqlite:///{tmp_path / 'team' / 'studies' / 'wf.db'}"
    )
    project = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert study_storage_beside(project, "wf", tmp_path) is None  # studies/ as before
    assert study_storage_beside("http://127.0.0.1:5000", "wf", tmp_path) is None
