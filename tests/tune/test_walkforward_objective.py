"""The walkforward objective end to end on the bundled sample, with the real training.

Tiny budgets: 1-month folds of a 6-month train window, 2 inner folds, a 2-month held-back
window, 256 env-steps per trial. Bad input is checked before any study or training exists.
"""

import json
from pathlib import Path

import mlflow
import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState, create_trial
from tune_helpers import FakeTraining, tune_config

from btcrl.cli import main
from btcrl.config import ExperimentConfig, load_config
from btcrl.errors import ConfigError
from btcrl.tracking import tags as tag_names
from btcrl.tune import run_study

SPACE = """\
algo: ppo
params:
  agent.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
fixed:
  agent.n_steps: 64
  agent.batch_size: 64
  agent.n_epochs: 1
  agent.net_arch: [16, 16]
  env.exposure_deadzone: 0.0
"""


def wf_config(tmp: Path, *overrides: str) -> ExperimentConfig:
    return load_config(None, wf_overrides(tmp, *overrides))


def wf_overrides(tmp: Path, *overrides: str) -> list[str]:
    """The ``--set`` values of :func:`wf_config` (writes its space file)."""
    space = tmp / "space.yaml"
    space.write_text(SPACE)
    return [
        f"data.data_dir={tmp / 'data'}",
        "data.start=2023-09-01",
        "data.end=2024-12-31",
        f"tune.storage=sqlite:///{tmp / 'studies' / 'wf.db'}",
        "tune.study=wf",
        f"tune.space={space}",
        "tune.objective=walkforward",
        "tune.inner_folds=2",
        "tune.holdout_months=2",
        "tune.budget_timesteps=256",
        "tune.budget_eval_every=128",
        "tune.budget_n_envs=2",
        "tune.pruner_startup_trials=1",
        "walkforward.train_months=6",
        "walkforward.val_months=1",
        "walkforward.test_months=1",
        "walkforward.step_months=1",
        "train.system_metrics=false",
        *overrides,
    ]


def parent_run(run_id: str) -> mlflow.entities.Run:
    return mlflow.get_run(run_id)


def artifacts(run_id: str, path: str = "") -> set[str]:
    return {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, path)}


@pytest.mark.slow
def test_walkforward_study_counts_every_trial_and_tests_the_heldback_window(
    study_dir: Path,
) -> None:
    config = wf_config(study_dir, "tune.trials=2")
    result = run_study(config)
    study = optuna.load_study(study_name="wf", storage=config.tune.storage)
    assert study.metric_names == ["oos/sharpe"]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2
    for trial in complete:  # one intermediate value per fold, the last one is the score
        assert sorted(trial.intermediate_values) == [0, 1]
        assert trial.intermediate_values[1] == pytest.approx(trial.value)
        run_id = trial.user_attrs["mlflow_run_id"]
        assert "oos_returns.csv" in artifacts(run_id)
        params = parent_run(run_id).data.params  # the compare view relates them to oos/*
        assert float(params["agent.learning_rate"]) == trial.params["agent.learning_rate"]
        assert params["agent.n_steps"] == "64" and params["budget_timesteps_per_fold"] == "128"
        folds = mlflow.search_runs(
            experiment_names=["btcrl-tune"],
            filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'",
            output_format="list",
        )
        assert sorted(r.data.tags["btcrl.tune.fold"] for r in folds) == ["0", "1"]
        assert all("val/bh_sharpe" in r.data.metrics for r in folds)  # beside val/sharpe

    parent = parent_run(result.parent_run_id)
    m = parent.data.metrics
    assert parent.data.params["budget_timesteps_per_trial"] == "256"
    assert parent.data.params["budget_timesteps_per_fold"] == "128"
    assert m["selection/n_trials"] == 2 and m["selection/n_series"] == 2
    assert 0.0 <= m["selection/dsr"] <= 1.0 and 0.0 <= m["selection/pbo"] <= 1.0
    assert m["selection/pbo_partitions"] == 16
    assert "heldback/sharpe" in m and "heldback/excess_sharpe" in m
    files = artifacts(result.parent_run_id)
    assert {"selection_summary.json", "selection_summary.md", "trial_returns.csv"} <= files
    assert "oos_returns.csv" in files  # the challenger's series, read by btcrl promote
    assert "plots/pbo_logits.html" in artifacts(result.parent_run_id, "plots")
    local = mlflow.artifacts.download_artifacts(
        run_id=result.parent_run_id, artifact_path="selection_summary.json"
    )
    summary = json.loads(Path(local).read_text())
    assert summary["heldback_window"] == ["2024-11-01", "2024-12-31"]
    assert summary["metrics"]["sharpe"]["in_sample_best"] == pytest.approx(result.best_value)
    assert summary["metrics"]["sharpe"]["heldback"] == pytest.approx(m["heldback/sharpe"])

    version = mlflow.MlflowClient().get_model_version_by_alias("btcrl-ppo", "challenger")
    assert version.tags[tag_names.OOS_PARENT_RUN] == result.parent_run_id
    assert float(version.tags[tag_names.OOS_DSR]) == pytest.approx(m["selection/dsr"], abs=1e-6)
    assert version.tags["btcrl.oos_n_trials"] == "2"  # the N behind it
    # every complete trial is an entry of the trial ledger of the inner folds' test windows
    entries = [mlflow.get_run(t.user_attrs["mlflow_run_id"]).data.tags for t in complete]
    assert len({e["btcrl.ledger.window_set"] for e in entries}) == 1
    assert {e["btcrl.ledger.kind"] for e in entries} == {"tune_trial"}
    assert json.loads(version.tags[tag_names.OOS_WINDOWS]) == [
        ["2024-09-01", "2024-09-30"],
        ["2024-10-01", "2024-10-31"],
    ]

    # --promote: the gate decides on the challenger (no champion yet: the DSR alone)
    from btcrl.promote.challenge import promote_model

    outcome = promote_model(config, f"models:/btcrl-ppo/{version.version}")
    assert outcome.decision.promote == (m["selection/dsr"] >= 0.95)
    champion = mlflow.MlflowClient().get_registered_model("btcrl-ppo").aliases.get("champion")
    assert (champion == version.version) == outcome.decision.promote

    # pruned and failed trials count in N
    study.add_trial(create_trial(state=TrialState.PRUNED))
    study.add_trial(create_trial(state=TrialState.FAIL))
    again = run_study(wf_config(study_dir, "tune.trials=1"))
    again_metrics = parent_run(again.parent_run_id).data.metrics
    assert again_metrics["selection/n_trials"] == 5
    # the study's own trials in the ledger are not counted twice
    assert (again_metrics["selection/dsr_n"], again_metrics["selection/ledger_others"]) == (5, 0)

    # the next step: retrain trial 0's configuration
    out = CliRunner().invoke(
        main,
        [
            "train", "--from-study", "wf", "--trial", "0",
            "--storage", config.tune.storage or "",
            "--total-timesteps", "128", "--n-envs", "2",
            "--start", "2024-06-01", "--end", "2024-08-31",
            "--set", f"data.data_dir={study_dir / 'data'}",
            "--set", "train.eval_every=128", "--set", "train.system_metrics=false",
        ],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    lr = study.trials[0].params["agent.learning_rate"]
    assert "from study wf, trial 0" in out.output and f"agent.learning_rate={lr}" in out.output


@pytest.mark.slow
def test_walkforward_study_with_hmm_completes_its_trials(study_dir: Path) -> None:
    """``btcrl tune --objective walkforward --set features.hmm.enabled=true --trials 3``: each
    fold fits the HMM on its train split (tests/tune/test_fitted_folds.py) and trades its test
    window with those params."""
    # No pruner: this test is about fitted folds, not pruning. Around the default prior the
    # trials' first-fold Sharpes differ by ~1%, so the median pruner (startup 1) would stop
    # trials on noise; pruning by fold is checked in the test above.
    sets = wf_overrides(
        study_dir, "features.hmm.enabled=true", "tune.holdout_months=0", "tune.pruner=none"
    )
    args = ["tune", "--objective", "walkforward", "--trials", "3"]
    out = CliRunner().invoke(main, [*args, *(f"--set={item}" for item in sets)])
    assert out.exit_code == 0, out.output
    storage = f"sqlite:///{study_dir / 'studies' / 'wf.db'}"
    trials = optuna.load_study(study_name="wf", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    fold_runs = mlflow.search_runs(
        experiment_names=["btcrl-tune"],
        filter_string="tags.`btcrl.stage` = 'train'",
        output_format="list",
    )
    assert len(fold_runs) == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tune.objective=walkforward", "tune.metrics=[oos/nope]"], "not a metric of"),
        (["tune.objective=walkforward", "tune.metrics=[val/sharpe]"], "--objective holdout"),
    ],
)
def test_bad_metric_creates_no_study_and_trains_nothing(
    study_dir: Path, fake_training: FakeTraining, overrides: list[str], message: str
) -> None:
    config = tune_config(study_dir, "tune.trials=2", *overrides)
    with pytest.raises(ConfigError, match=message):
        run_study(config)
    assert fake_training.calls == []
    assert not (study_dir / "studies" / "test.db").exists()


def test_study_bound_to_other_metrics_is_refused_before_training(
    study_dir: Path, fake_training: FakeTraining
) -> None:
    config = tune_config(study_dir, "tune.trials=2")
    (study_dir / "studies").mkdir()
    study = optuna.create_study(study_name="test", storage=config.tune.storage)
    study.set_metric_names(["val/sortino"])
    with pytest.raises(ConfigError, match="bound to metrics"):
        run_study(config)
    assert fake_training.calls == []
    assert optuna.load_study(study_name="test", storage=config.tune.storage).trials == []


def test_from_study_without_a_complete_trial_is_one_line(study_dir: Path) -> None:
    (study_dir / "studies").mkdir()
    url = f"sqlite:///{study_dir / 'studies' / 'empty.db'}"
    optuna.create_study(study_name="empty", storage=url)
    out = CliRunner().invoke(main, ["train", "--from-study", "empty", "--storage", url])
    assert out.exit_code == 1 and "has no complete trial yet" in out.output
