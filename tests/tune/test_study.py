"""Study mechanics with a training test double (fast); real training: test_integration.py."""

import math
from pathlib import Path

import mlflow
import optuna
import pytest
from click.testing import CliRunner
from tune_helpers import FakeTraining, diverge_when_high_lr, tune_config

from btcrl.cli import main
from btcrl.errors import BtcrlError, ConfigError
from btcrl.tune import run_study


def _runs(experiment: str = "btcrl-tune") -> list[mlflow.entities.Run]:
    exp = mlflow.get_experiment_by_name(experiment)
    assert exp is not None
    return list(mlflow.search_runs([exp.experiment_id], output_format="list"))


def test_study_runs_trials_as_nested_runs_and_resumes(
    study_dir: Path, fake_training: FakeTraining
) -> None:
    config = tune_config(study_dir, "tune.trials=4", "tune.pruner=none")
    first = run_study(config)
    assert first.n_trials == 4 and first.first_trial == 0
    assert first.summary["n_complete"] == 4
    assert math.isfinite(first.best_value or math.nan)
    runs = _runs()
    parents = [r for r in runs if r.data.tags.get("btcrl.stage") == "tune"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == first.parent_run_id]
    assert len(parents) == 1 and len(children) == 4
    assert sorted(int(r.data.tags["btcrl.trial_number"]) for r in children) == [0, 1, 2, 3]
    assert all(r.data.tags["btcrl.study"] == "test" for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    parent = parents[0]
    assert parent.data.metrics["best_value"] == pytest.approx(first.best_value)
    assert any(k.startswith("best.agent.learning_rate") for k in parent.data.params)
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "best_params.json", "space.yaml", "plots"} <= arts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.html" in plots
    html = Path(
        mlflow.artifacts.download_artifacts(
            run_id=parent.info.run_id, artifact_path="plots/optimization_history.html"
        )
    )
    assert "plotly.js" in html.read_text()[:5000] or len(html.read_text()) > 1_000_000
    # every trial trained on the quick budget, and no trial registered its model
    assert all(
        c.train.total_timesteps == 400 and not c.train.register_model for c in fake_training.calls
    )

    again = run_study(tune_config(study_dir, "tune.trials=2", "tune.pruner=none"))
    assert again.first_trial == 4 and again.n_trials == 6  # numbers continue
    study = optuna.load_study(study_name="test", storage=config.tune.storage)
    assert [t.number for t in study.trials] == list(range(6))
    assert len(_runs()) == 1 + 4 + 1 + 2


def test_a_resume_with_another_recipe_or_budget_is_refused_naming_it(
    study_dir: Path, fake_training: FakeTraining
) -> None:
    """Trials of two recipes in one study would be ranked against each other as one: a resume
    with another env, budget or search space is refused in one line that names what
    differs, before any trial runs; the same settings resume."""
    run_study(tune_config(study_dir, "tune.trials=1", "tune.pruner=none"))
    ran = len(fake_training.calls)
    with pytest.raises(ConfigError, match=r"made with env\.residual_limit=0\.5 \(now 0\.25\)"):
        run_study(tune_config(study_dir, "tune.trials=1", "env.residual_limit=0.25"))
    with pytest.raises(ConfigError, match=r"train\.total_timesteps=400 \(now 800\)"):
        run_study(tune_config(study_dir, "tune.trials=1", "tune.budget_timesteps=800"))
    assert len(fake_training.calls) == ran
    again = run_study(tune_config(study_dir, "tune.trials=1", "tune.pruner=none"))
    assert again.n_trials == 2


def test_pruned_trial_ends_killed_with_tag(study_dir: Path, fake_training: FakeTraining) -> None:
    # the later a trial, the worse its curve: the median pruner must stop some of them
    fake_training.score = lambda c: -float(len(fake_training.calls))
    result = run_study(tune_config(study_dir, "tune.trials=6", "tune.pruner_startup_trials=2"))
    assert result.summary["n_pruned"] >= 1
    killed = [r for r in _runs() if r.info.status == "KILLED"]
    assert len(killed) == result.summary["n_pruned"]
    assert all(r.data.tags.get("btcrl.end_reason", "").startswith("TrialPruned") for r in killed)


def test_diverged_trial_fails_with_reason_and_study_goes_on(
    study_dir: Path, fake_training: FakeTraining
) -> None:
    fake_training.score = diverge_when_high_lr
    result = run_study(tune_config(study_dir, "tune.trials=8", "tune.pruner=none"))
    study = optuna.load_study(study_name="test", storage=f"sqlite:///{study_dir}/studies/test.db")
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(study.trials) == 8 and failed and result.summary["n_complete"] >= 1
    assert all("diverged" in t.user_attrs["fail_reason"] for t in failed)


def test_nan_objective_fails_the_trial(study_dir: Path, fake_training: FakeTraining) -> None:
    fake_training.score = lambda c: math.nan
    config = tune_config(study_dir, "tune.trials=2", "tune.pruner=none")
    with pytest.raises(BtcrlError, match=r"all 2 trial\(s\) of study 'test' failed; trial 0: "):
        run_study(config)
    study = optuna.load_study(study_name="test", storage=config.tune.storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    parent = [r for r in _runs() if r.data.tags.get("btcrl.stage") == "tune"]
    assert [r.info.status for r in parent] == ["FAILED"]


def test_a_study_whose_trials_all_failed_exits_1_with_the_first_error(
    study_dir: Path, fake_training: FakeTraining
) -> None:
    fake_training.score = lambda c: BtcrlError("training diverged: NaN in the\npolicy loss")
    args = [
        "tune", "--trials", "3", "--study", "dead", "--pruner", "none", "--objective", "holdout",
        "--budget-timesteps", "200", "--set", "tune.holdout_months=0",
    ]  # fmt: skip
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1, out.output
    lines = [line for line in out.output.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: all 3 trial(s) of study 'dead' failed; trial 0: training diverged: NaN in the "
        "policy loss"
    ]
    # a study with one trial that completes works: no error
    fake_training.score = lambda c: 0.5 if len(fake_training.calls) == 5 else BtcrlError("x")
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output


def test_unknown_metric_stops_the_study(study_dir: Path, fake_training: FakeTraining) -> None:
    config = tune_config(study_dir, "tune.trials=3", "tune.metrics=[val/nope]")
    with pytest.raises(ConfigError, match="'val/nope' is not a metric of --objective holdout"):
        run_study(config)
    assert fake_training.calls == []  # before any training
    assert not (study_dir / "studies" / "test.db").exists()  # no study bound to the bad metric


def test_multi_objective_logs_pareto_set(study_dir: Path, fake_training: FakeTraining) -> None:
    config = tune_config(
        study_dir,
        "tune.trials=4",
        "tune.metrics=[val/sharpe, val/max_drawdown]",
        "tune.directions=[maximize, maximize]",
    )
    result = run_study(config)
    assert result.summary["pareto"] and result.summary["n_complete"] == 4
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.parent_run_id)}
    assert "pareto.json" in arts


def test_direction_count_must_match(study_dir: Path) -> None:
    config = tune_config(study_dir, "tune.metrics=[val/sharpe, val/max_drawdown]")
    with pytest.raises(ConfigError, match="same length"):
        run_study(config)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--storage", "mysqlx://nowhere"], "storage URL"),
        (["--storage", "postgresql://u:p@127.0.0.1:1/x"], "cannot connect to storage"),
        (["--space", "bad.yaml"], "search space"),
        (["--study", "../x"], "tune.study='../x'"),
    ],
)
def test_cli_errors_are_one_line_before_training(
    study_dir: Path, fake_training: FakeTraining, args: list[str], expected: str
) -> None:
    (study_dir / "bad.yaml").write_text("params:\n  agent.gamma: {type: float, low: 2, high: 1}\n")
    result = CliRunner().invoke(main, ["tune", "--trials", "2", *args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert fake_training.calls == []
    assert mlflow.get_experiment_by_name("btcrl-tune") is None  # nothing was started


def test_cli_runs_a_study_and_registers_the_best(
    study_dir: Path,
    fake_training: FakeTraining,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optuna

    from btcrl.tune import study as study_module

    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's own default

    registered: list[tuple[str, str, str]] = []
    monkeypatch.setattr(  # the fake training logs no model to register
        study_module,
        "register_model",
        lambda run_id, name, alias: registered.append((run_id, name, alias)) or 7,
        raising=False,
    )
    args = [
        "tune",
        "--trials",
        "3",
        "--study",
        "cli",
        "--pruner",
        "none",
        "--metric",
        "val/sharpe",
        "--direction",
        "maximize",
        "--budget-timesteps",
        "200",
        "--algo",
        "ppo",
        "--timeout",
        "",
        "--space",
        "",
        "--set",
        "tune.holdout_months=0",  # the fake training has no model to retrain and test
        "--objective",
        "holdout",
    ]
    result = CliRunner().invoke(main, [*args, "--register-best"])
    assert result.exit_code == 0, result.output
    assert "best trial" in result.output and (study_dir / "studies" / "cli.db").is_file()
    best_run = mlflow.search_runs(
        experiment_names=["btcrl-tune"],
        filter_string="tags.`btcrl.stage` = 'tune'",
        output_format="list",
    )[0].data.tags["btcrl.best_run_id"]
    assert registered == [(best_run, "btcrl-ppo", "tuned")]
    assert "registered version 7 with alias tuned" in result.output
    # the progress bar and the summary say it; Optuna's ~800-character per-trial lines
    # ("... Best is trial 0 ...") only with -v
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_mlproject_tune_entry_point_runs(study_dir: Path, fake_training: FakeTraining) -> None:
    """`mlflow run . -e tune -P trials=2`: the command MLflow renders is a valid `btcrl tune`."""
    import shlex

    from mlflow.projects._project_spec import load_project

    repo = Path(__file__).resolve().parents[2]
    entry = load_project(str(repo)).get_entry_point("tune")
    argv = shlex.split(entry.compute_command({"trials": "2", "study": "mlp"}, storage_dir=None))
    assert argv[:2] == ["btcrl", "tune"]
    result = CliRunner().invoke(
        main, [*argv[1:], "--set", "tune.holdout_months=0", "--objective", "holdout"]
    )
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{study_dir}/studies/mlp.db")
    assert len(study.trials) == 2


def test_under_mlflow_run_the_adopted_run_is_the_parent(
    study_dir: Path, fake_training: FakeTraining, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlflow run` sets MLFLOW_RUN_ID: it becomes the parent, and no trial takes it over."""
    from btcrl.tracking import ensure_experiment

    outer = mlflow.MlflowClient().create_run(ensure_experiment("btcrl-tune")).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", outer)
    result = run_study(tune_config(study_dir, "tune.trials=2", "tune.pruner=none"))
    assert result.parent_run_id == outer
    parent = mlflow.get_run(outer)
    assert parent.data.tags["btcrl.stage"] == "tune" and parent.info.status == "FINISHED"
    children = [r for r in _runs() if r.data.tags.get("mlflow.parentRunId") == outer]
    assert len(children) == 2 and outer not in {r.info.run_id for r in children}
