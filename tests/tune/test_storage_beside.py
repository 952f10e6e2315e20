"""A study lives beside the tracking store it belongs to (issue 24): a fresh tracking store
never meets a stale study, and a refusal names the setting that differs."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from tune_helpers import FakeTraining

from btcrl.cli import main
from btcrl.config import TrackingConfig, TuneConfig
from btcrl.tune.storage import study_storage_url

ARGS = ["tune", "--trials", "1", "--study", "s", "--pruner", "none", "--objective", "holdout"]
ARGS += ["--budget-timesteps", "200", "--set", "tune.holdout_months=0"]


def test_storage_url_follows_the_tracking_store(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    other = TrackingConfig(uri=f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}")
    want = f"sqlite:///{(tmp_path / 'elsewhere' / 'studies' / 's.db').resolve()}"
    assert study_storage_url(TuneConfig(study="s"), other, tmp_path) == want
    project = TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert study_storage_url(TuneConfig(study="s"), project, tmp_path) == (
        f"sqlite:///{tmp_path.resolve() / 'studies' / 's.db'}"
    )  # the project's own store keeps its studies in studies/
    given = f"sqlite:///{tmp_path / 'mine.db'}"
    assert study_storage_url(TuneConfig(study="s", storage=given), other, tmp_path) == given


def _store(folder: Path, template: Path) -> str:
    folder.mkdir()
    shutil.copy(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def test_a_fresh_tracking_store_gets_a_fresh_study(
    study_dir: Path, mlflow_template: Path, fake_training: FakeTraining
) -> None:
    first = _store(study_dir / "first", mlflow_template)
    out = CliRunner().invoke(main, [*ARGS, "--set", f"tracking.uri={first}"])
    assert out.exit_code == 0, out.output
    assert (study_dir / "first" / "studies" / "s.db").is_file()
    assert not (study_dir / "studies").exists()  # not in the project's studies/
    # the same study name with another algo: refused in the first store, naming the setting
    sac = [*ARGS, "--algo", "sac", "--set", f"tracking.uri={first}"]
    out = CliRunner().invoke(main, sac)
    assert out.exit_code != 0
    assert "was made with agent.algo (--algo) 'ppo', not 'sac'" in out.output
    assert str(study_dir / "first" / "studies" / "s.db") in out.output
    # ... and a fresh study beside a fresh store
    fresh = _store(study_dir / "fresh", mlflow_template)
    out = CliRunner().invoke(main, [*ARGS, "--algo", "sac", "--set", f"tracking.uri={fresh}"])
    assert out.exit_code == 0, out.output
    assert (study_dir / "fresh" / "studies" / "s.db").is_file()


@pytest.fixture(autouse=True)
def _no_env_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BTCRL_TUNE_STORAGE", raising=False)
