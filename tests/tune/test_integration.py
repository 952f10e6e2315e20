"""Studies over the real training (``btcrl.agents.run_training``) with tiny budgets.

The multi-process tests (two workers, SIGKILL, PostgreSQL) cannot use the in-process test
double: spawned workers import the real training code path.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.exc import IntegrityError

from btcrl.config import ExperimentConfig, load_config
from btcrl.tune import run_study

SPACE = """\
algo: ppo
params:
  agent.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
  agent.gamma: {type: categorical, choices: [0.95, 0.99]}
  env.reward: {type: categorical, choices: [log_return, asymmetric_drawdown]}
  env.downside_weight: {type: float, low: 1.0, high: 4.0, when: {env.reward: asymmetric_drawdown}}
  env.exposure_deadzone: {type: float, low: 0.0, high: 0.1}
  env.leverage_limit: {type: float, low: 1.0, high: 2.0, step: 0.5}
fixed:
  agent.n_steps: 64
  agent.batch_size: 64
  agent.n_epochs: 1
  agent.net_arch: [16, 16]
"""


@pytest.fixture(scope="module")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One candle store and feature cache for every test here (features build once)."""
    return tmp_path_factory.mktemp("tune-data")


def real_config(
    tmp: Path, data_dir: Path, *overrides: str, study: str = "real"
) -> ExperimentConfig:
    """A tiny real study: 3 months of the bundled sample, 384 env-steps per trial."""
    space = tmp / "space.yaml"
    space.write_text(SPACE)
    return load_config(
        None,
        [
            f"data.data_dir={data_dir}",
            "data.start=2024-05-01",
            "data.end=2024-07-31",
            f"tune.storage=sqlite:///{tmp / 'studies' / f'{study}.db'}",
            f"tune.study={study}",
            f"tune.space={space}",
            "tune.budget_timesteps=384",
            "tune.budget_eval_every=128",
            "tune.budget_n_envs=2",
            "tune.pruner_startup_trials=2",
            "tune.holdout_months=0",
            "tune.objective=holdout",  # three months: no room for inner folds
            "train.system_metrics=false",
            *overrides,
        ],
    )


def trial_runs(parent_run_id: str | None = None) -> list[mlflow.entities.Run]:
    exp = mlflow.get_experiment_by_name("btcrl-tune")
    assert exp is not None
    runs = mlflow.search_runs([exp.experiment_id], output_format="list", max_results=1000)
    return [
        r
        for r in runs
        if "btcrl.trial_number" in r.data.tags
        and (parent_run_id is None or r.data.tags.get("mlflow.parentRunId") == parent_run_id)
    ]


def check_no_lost_or_duplicated(study: optuna.Study, parent: str, expected: int) -> None:
    """Trials 0..n-1 exist once each, each has exactly one child run of ``parent``."""
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(expected))
    assert all(t.state.is_finished() for t in study.trials)
    runs = trial_runs(parent)
    per_trial = Counter(int(r.data.tags["btcrl.trial_number"]) for r in runs)
    assert per_trial == Counter(numbers)
    assert all(r.info.status != "RUNNING" for r in runs)


@pytest.mark.slow
def test_real_study_completes_and_resumes(study_dir: Path, shared_data_dir: Path) -> None:
    config = real_config(study_dir, shared_data_dir, "tune.trials=4")
    result = run_study(config)
    study = optuna.load_study(study_name="real", storage=config.tune.storage)
    check_no_lost_or_duplicated(study, result.parent_run_id, 4)
    assert result.summary["n_complete"] + result.summary["n_pruned"] == 4
    assert result.summary["best_trial"] in range(4) and result.best_params
    runs = trial_runs(result.parent_run_id)
    assert {r.data.tags["btcrl.study"] for r in runs} == {"real"}
    assert all("val/sharpe" in r.data.metrics for r in runs)  # intermediate metrics
    best = [r for r in runs if r.info.run_id == result.summary["best_run_id"]]
    assert best and best[0].data.metrics["tune/objective"] == pytest.approx(result.best_value)
    for run in runs:
        if run.info.status == "KILLED":
            assert run.data.tags.get("btcrl.end_reason", "").startswith("TrialPruned")
    # every trial counted; each complete trial's validation returns replayed for DSR/PBO
    selection = mlflow.get_run(result.parent_run_id).data.metrics
    assert selection["selection/n_trials"] == 4
    assert selection["selection/n_series"] == result.summary["n_complete"]
    # holdout: the DSR's N counts every checkpoint a trial evaluated on the validation span
    client = mlflow.MlflowClient()
    checkpoints = [len(client.get_metric_history(r.info.run_id, "val/sharpe")) for r in runs]
    assert selection["selection/dsr_n"] == sum(max(1, n) for n in checkpoints)
    assert selection["selection/dsr_n"] > selection["selection/n_trials"]
    assert "val/bh_sharpe" in best[0].data.metrics

    again = run_study(
        real_config(study_dir, shared_data_dir, "tune.trials=1", "tune.register_best=true")
    )
    assert again.first_trial == 4 and again.n_trials == 5
    assert len(trial_runs(again.parent_run_id)) == 1
    version = mlflow.MlflowClient().get_model_version_by_alias("btcrl-ppo", "tuned")
    assert version.run_id == again.summary["best_run_id"]
    assert again.registered_version == str(version.version)


@pytest.mark.slow
def test_two_workers_on_sqlite_lose_and_duplicate_nothing(
    study_dir: Path, shared_data_dir: Path
) -> None:
    config = real_config(study_dir, shared_data_dir, "tune.trials=6", "tune.workers=2")
    result = run_study(config)
    assert result.worker_exit_codes == [0, 0]
    study = optuna.load_study(study_name="real", storage=config.tune.storage)
    check_no_lost_or_duplicated(study, result.parent_run_id, 6)


@pytest.mark.slow
def test_sigkilled_worker_trial_fails_and_is_retried(
    study_dir: Path, shared_data_dir: Path
) -> None:
    overrides = ["tune.heartbeat_interval=1", "tune.grace_period=3", "tune.pruner=none"]
    # a budget still training when it is killed; the resume must use the same (study_settings)
    overrides.append("tune.budget_timesteps=200000")
    slow = real_config(study_dir, shared_data_dir, "tune.trials=1", *overrides)
    args = [str(Path(sys.executable).parent / "btcrl"), "tune", "--trials", "1"]
    for key, value in _dotted(slow).items():
        args += ["--set", f"{key}={value}"]
    proc = subprocess.Popen(
        args,
        cwd=study_dir,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    storage = slow.tune.storage
    try:
        running = _wait_for_running_trial_run(storage, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(4)  # past the grace period: the trial's heartbeat is stale

    result = run_study(real_config(study_dir, shared_data_dir, "tune.trials=1", *overrides))
    study = optuna.load_study(study_name="real", storage=storage)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == killed.number
    assert retry.params == killed.params  # the same point, tried again
    lost = mlflow.get_run(running)
    assert lost.info.status == "FAILED"  # never left RUNNING
    assert "no heartbeat" in lost.data.tags["btcrl.end_reason"]
    assert len(trial_runs(result.parent_run_id)) == 1
    parents = mlflow.search_runs(
        experiment_names=["btcrl-tune"],
        filter_string="tags.`btcrl.stage` = 'tune'",
        output_format="list",
    )
    orphan = [r for r in parents if r.info.run_id != result.parent_run_id]
    assert [r.info.status for r in orphan] == ["KILLED"]  # the killed invocation's parent run
    assert "ended without closing" in orphan[0].data.tags["btcrl.end_reason"]
    assert result.ran == [1]  # the retried trial, counted as this invocation's


@pytest.mark.postgres
def test_two_workers_on_postgres(study_dir: Path, shared_data_dir: Path) -> None:
    url = os.environ.get("BTCRL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BTCRL_TEST_POSTGRES_URL is not set (.ci/run starts a local PostgreSQL)")
    from btcrl.errors import ConfigError
    from btcrl.jobs.storage import resolve_storage_url

    name = f"pg-{uuid.uuid4().hex[:8]}"
    config = real_config(
        study_dir,
        shared_data_dir,
        "tune.trials=4",
        "tune.workers=2",
        f"tune.storage={url}",
        study=name,
    )
    try:
        resolve_storage_url(config.tune)
    except ConfigError as exc:
        pytest.skip(f"PostgreSQL at BTCRL_TEST_POSTGRES_URL is unreachable: {exc}")
    result = run_study(config)
    try:
        assert result.worker_exit_codes == [0, 0]
        study = optuna.load_study(study_name=name, storage=resolve_storage_url(config.tune))
        check_no_lost_or_duplicated(study, result.parent_run_id, 4)
    finally:
        optuna.delete_study(study_name=name, storage=resolve_storage_url(config.tune))


def _dotted(config: ExperimentConfig) -> dict[str, str]:
    """The tune/data/train keys a subprocess needs to rebuild ``config``."""
    from btcrl.config import flatten_config

    flat = flatten_config(config)
    keep = ("data.data_dir", "data.start", "data.end", "train.system_metrics")
    return {k: v for k, v in flat.items() if k.startswith("tune.") and v != "None" or k in keep}


def _wait_for_running_trial_run(storage: str, proc: subprocess.Popen[bytes]) -> str:
    """Poll until the subprocess's trial is RUNNING and has its MLflow run; that run's id."""
    deadline = time.time() + 180
    while time.time() < deadline:
        assert proc.poll() is None, "the tune process ended before it could be killed"
        running = []
        if Path(storage.removeprefix("sqlite:///")).is_file():
            try:
                study = optuna.load_study(study_name="real", storage=storage)
                running = [t for t in study.trials if t.state == TrialState.RUNNING]
            except (KeyError, IntegrityError):  # not created yet, or being created right now
                pass
        if running and mlflow.get_experiment_by_name("btcrl-tune") is not None:
            runs = [r for r in trial_runs() if r.info.status == "RUNNING"]
            if runs:
                time.sleep(2)  # a few heartbeats in
                return runs[0].info.run_id
        time.sleep(0.5)
    raise AssertionError("no running trial appeared within 180 s")
