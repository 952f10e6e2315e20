"""Every trial counted: N, the best trial's DSR with N, PBO over the trials' series."""

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from btcrl.backtest.pbo import pbo_cscv
from btcrl.metrics import stats
from btcrl.tune.selection import count_tried, partitions_for, selection_stats


def _series(rng: np.random.Generator, n: int, bars: int, edge: int | None = None) -> dict:
    index = pd.date_range("2024-01-01", periods=bars, freq="h", tz="UTC")
    out = {}
    for i in range(n):
        values = rng.normal(0.0, 0.01, bars)
        if i == edge:
            values += 0.004  # a persistent per-bar Sharpe of about 0.4
        out[i] = pd.Series(values, index=index)
    return out


def test_count_tried_counts_complete_pruned_and_failed_not_running() -> None:
    dist = {"x": FloatDistribution(0, 1)}
    trials = [
        create_trial(state=TrialState.COMPLETE, value=1.0, params={"x": 0.1}, distributions=dist),
        create_trial(state=TrialState.PRUNED, params={"x": 0.2}, distributions=dist),
        create_trial(state=TrialState.FAIL, params={"x": 0.3}, distributions=dist),
        create_trial(state=TrialState.RUNNING, params={"x": 0.4}, distributions=dist),
        create_trial(state=TrialState.WAITING),
    ]
    assert count_tried(trials) == 3


@pytest.mark.parametrize(
    ("bars", "wanted", "expected"), [(2000, 16, 16), (100, 16, 12), (40, 16, 4), (15, 16, 0)]
)
def test_partitions_shrink_to_keep_blocks_of_eight_bars(
    bars: int, wanted: int, expected: int
) -> None:
    assert partitions_for(bars, wanted) == expected


def test_best_trials_dsr_uses_n_tried_and_the_sharpe_variance_across_trials() -> None:
    series = _series(np.random.default_rng(3), 6, 500)
    sharpes = [float(s.mean() / s.std(ddof=1)) for s in series.values()]
    best = int(np.argmax(sharpes))
    result, _ = selection_stats(series, n_trials=10, best=best, partitions=16)
    variance = float(np.var(sharpes, ddof=1))
    assert result.n_trials == 10 and result.n_series == 6
    assert result.sharpe_variance == pytest.approx(variance, rel=1e-9)
    returns = series[best].to_numpy()
    assert result.dsr == pytest.approx(stats.deflated_sharpe_ratio(returns, 10, variance))
    # more trials tried (pruned and failed ones count) deflate more
    more, _ = selection_stats(series, n_trials=100, best=best, partitions=16)
    assert more.dsr < result.dsr < result.psr


def test_pbo_is_cscv_over_the_shared_bars() -> None:
    series = _series(np.random.default_rng(5), 8, 640, edge=2)
    series[7] = series[7].iloc[40:]  # a shorter series: only the shared bars count
    result, pbo = selection_stats(series, n_trials=8, best=2, partitions=16)
    matrix = pd.concat(series, axis=1, join="inner").to_numpy()
    assert matrix.shape == (600, 8)
    assert pbo is not None and result.pbo == pytest.approx(pbo_cscv(matrix, 16).pbo)
    assert result.pbo < 0.1  # one trial with a real edge keeps winning out of sample


def test_one_series_gives_dsr_but_no_pbo() -> None:
    series = _series(np.random.default_rng(1), 1, 200)
    result, pbo = selection_stats(series, n_trials=4, best=0, partitions=16)
    assert pbo is None and np.isnan(result.pbo) and 0.0 <= result.dsr <= 1.0


def test_study_counts_are_what_optuna_holds() -> None:
    study = optuna.create_study()
    study.add_trial(create_trial(state=TrialState.PRUNED))
    study.add_trial(create_trial(state=TrialState.FAIL))
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5))
    assert count_tried(study.trials) == 3


def test_holdout_n_counts_every_checkpoint_evaluated_on_the_validation_span(
    tracking_uri: str,
) -> None:
    """Issue 22.5: a holdout trial picks its checkpoint on the span its score is read on, so
    each checkpoint it evaluated there is one more try; the DSR deflates by all of them."""
    import mlflow

    from btcrl.tune.selection import count_checkpoints

    dist = {"x": FloatDistribution(0, 1)}
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    trials, run_ids = [], {}
    experiment = mlflow.MlflowClient().create_experiment("btcrl-tune")
    for number, (state, logged) in enumerate(zip(states, (3, 2, 0, 4), strict=True)):
        trial = create_trial(state=state, params={"x": 0.1}, distributions=dist,
                             value=1.0 if state == TrialState.COMPLETE else None)  # fmt: skip
        trial.number = number
        trials.append(trial)
        with mlflow.start_run(experiment_id=experiment) as run:
            for step in range(logged):
                mlflow.log_metric("val/sharpe", 0.1 * step, step=1000 * (step + 1))
        run_ids[number] = run.info.run_id
    # 3 + 2 checkpoints, the failed trial counts once, the running one not yet
    assert count_checkpoints(trials, run_ids, "val/sharpe") == 6
    rng = np.random.default_rng(5)
    series = _series(rng, 2, 500)
    plain, _ = selection_stats(series, 3, 0, 8)
    counted, _ = selection_stats(series, 3, 0, 8, n_deflated=6)
    assert (plain.n_deflated, counted.n_deflated) == (3, 6)
    assert counted.dsr == pytest.approx(
        stats.deflated_sharpe_ratio(series[0].to_numpy(), 6, counted.sharpe_variance)
    )
    assert counted.dsr < plain.dsr
    assert counted.metrics()["selection/dsr_n"] == 6.0


def test_configurations_outside_the_study_on_the_same_windows_add_to_n_and_v() -> None:
    rng = np.random.default_rng(7)
    series = _series(rng, 3, 400, edge=0)
    alone, _ = selection_stats(series, 3, 0, 8)
    others = [0.05, -0.04]
    pooled, _ = selection_stats(series, 3, 0, 8, others=others)
    assert (pooled.n_deflated, pooled.n_others) == (5, 2)
    sharpes = [*alone.sharpes.values(), *others]
    assert pooled.sharpe_variance == pytest.approx(float(np.var(sharpes, ddof=1)))
    assert pooled.dsr == pytest.approx(
        stats.deflated_sharpe_ratio(series[0].to_numpy(), 5, pooled.sharpe_variance)
    )
    assert pooled.dsr < alone.dsr


def test_trials_become_ledger_entries_and_count_for_others(tracking_uri: str) -> None:
    """A study's complete trials are recorded on its window set; a later study on the same
    windows counts them as others, never its own trials."""
    import mlflow

    from btcrl.tracking.ledger import ledger_entries
    from btcrl.tune.conclude import ledger_others, record_trials

    experiment = mlflow.MlflowClient().create_experiment("btcrl-tune")
    runs = []
    for _ in range(3):
        with mlflow.start_run(experiment_id=experiment) as run:
            runs.append(run.info.run_id)
    record_trials("key-a", {runs[0]: 0.01, runs[1]: -0.02})
    assert sorted(e.sharpe_per_bar for e in ledger_entries("key-a")) == [-0.02, 0.01]
    assert {e.kind for e in ledger_entries("key-a")} == {"tune_trial"}
    assert ledger_others("key-a", {runs[0]}) == [-0.02]
    assert sorted(ledger_others("key-a", {runs[2]})) == [-0.02, 0.01]
    assert ledger_others(None, set()) == []
