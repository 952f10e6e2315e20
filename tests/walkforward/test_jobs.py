"""Jobs in a real sqlite Optuna study: what gets enqueued, and that a finished or unwanted
job is never trained (the objective prunes it before any training starts)."""

from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from btcrl.config import ExperimentConfig
from btcrl.config.walkforward import WalkforwardConfig
from btcrl.jobs.storage import make_storage
from btcrl.walkforward import jobs
from btcrl.walkforward.split import make_segments
from btcrl.walkforward.train import SegmentObjective

DISTS = {"segment": IntDistribution(0, 3), "seed": IntDistribution(0, jobs.SEED_HIGH)}


def study_with_one_done(tmp_path: Path) -> tuple[optuna.Study, str]:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(
        study_name="wf",
        storage=make_storage(url, ExperimentConfig().tune),
        sampler=jobs.grid_sampler(4, (0, 1)),
        direction="maximize",
    )
    done = create_trial(
        params={"segment": 0, "seed": 0},
        distributions=DISTS,
        value=0.5,
        user_attrs={"run_id": "r00", "model_uri": "runs:/r00/model"},
    )
    study.add_trial(done)
    study.add_trial(
        create_trial(params={"segment": 1, "seed": 0}, distributions=DISTS, state=TrialState.FAIL)
    )
    return study, url


def test_enqueue_only_what_is_missing(tmp_path: Path) -> None:
    study, _ = study_with_one_done(tmp_path)
    todo = jobs.enqueue_missing(study, [(0, 0), (1, 0), (2, 1)])
    assert todo == [(1, 0), (2, 1)]  # the failed job comes back, the finished one does not
    waiting = jobs.jobs_in(study, (TrialState.WAITING,))
    assert set(waiting) == {(1, 0), (2, 1)}
    assert jobs.enqueue_missing(study, [(0, 0), (1, 0), (2, 1)]) == [(1, 0), (2, 1)]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2  # not enqueued twice
    assert jobs.finished_jobs(study) == {(0, 0): {"run_id": "r00", "model_uri": "runs:/r00/model"}}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_finished_job_is_pruned_not_retrained(tmp_path: Path) -> None:
    study, url = study_with_one_done(tmp_path)
    config = ExperimentConfig()
    segments = make_segments(
        pd.Timestamp("2022-01-01", tz="UTC"),
        pd.Timestamp("2023-12-01", tz="UTC"),
        WalkforwardConfig(train_months=6, val_months=1),
        pd.Timedelta(hours=1),
    )
    ctx = jobs.JobContext(
        config=config,
        segments=tuple(segments[:4]),
        storage_url=url,
        tracking_uri="unused",
        parent_run_id="p",
        wanted=frozenset({(0, 0), (3, 1)}),
    )
    study.enqueue_trial({"segment": 0, "seed": 0})  # e.g. enqueued by another machine
    study.optimize(SegmentObjective(ctx), n_trials=1)
    last = study.trials[-1]
    assert last.state == TrialState.PRUNED
    assert "run_id" not in last.user_attrs  # nothing was trained
    assert jobs.has_waiting(study) is False
    with pytest.raises(optuna.TrialPruned, match="not asked for"):
        # a grid draw of a job nobody wanted is pruned too
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id", 0)
        trial.suggest_int("segment", 0, 3)
        SegmentObjective(ctx)(_FixedTrial(trial, {"segment": 2, "seed": 1}))


class _FixedTrial:
    """A real trial whose suggestions are fixed (the grid's choice)."""

    def __init__(self, trial: optuna.Trial, values: dict[str, int]) -> None:
        self._trial, self._values = trial, values
        self.study, self.number = trial.study, trial.number

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return self._values[name]


def test_finished_jobs_read_one_result_attribute_and_the_older_form(tmp_path: Path) -> None:
    study, _ = study_with_one_done(tmp_path)  # (0, 0): one user attribute per item (older)
    result = {"run_id": "r20", "model_uri": "runs:/r20/model", "val/sharpe": float("nan")}
    study.add_trial(
        create_trial(
            params={"segment": 2, "seed": 1},
            distributions=DISTS,
            value=0.0,
            user_attrs={jobs.RESULT_ATTR: result},
        )
    )
    finished = jobs.finished_jobs(study)
    assert finished[(0, 0)] == {"run_id": "r00", "model_uri": "runs:/r00/model"}
    assert finished[(2, 1)]["model_uri"] == "runs:/r20/model"
    assert finished[(2, 1)]["val/sharpe"] != finished[(2, 1)]["val/sharpe"]  # NaN survives
    assert jobs.RESULT_ATTR not in finished[(2, 1)]
