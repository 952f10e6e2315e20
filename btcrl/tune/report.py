"""What the parent MLflow run holds after a study, and repair of runs left by dead workers."""

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import optuna
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from btcrl.tune.objective import (
    FAIL_REASON_ATTR,
    FAIL_REASON_TAG,
    RUN_ID_ATTR,
    STUDY_TAG,
    TRIAL_KEY_TAG,
    TRIAL_NUMBER_TAG,
    trial_key,
)
from btcrl.tune.space import SearchSpace, decode_params

log = logging.getLogger(__name__)

LOST_REASON = "worker lost (no heartbeat); trial failed and retried"


def _running_runs(client: MlflowClient, experiment_ids: list[str], extra: str) -> list[Any]:
    query = f"attributes.status = 'RUNNING' and {extra}"
    return list(client.search_runs(experiment_ids, filter_string=query, max_results=1000))


def close_stale_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
    """End the MLflow run of a trial whose worker died: FAILED, with the reason as a tag."""
    client = MlflowClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    key = trial_key(study.study_name, trial.number)
    for run in _running_runs(client, ids, f"tags.`{TRIAL_KEY_TAG}` = '{key}'"):
        _fail_run(client, run.info.run_id, LOST_REASON)


def reconcile_trial_runs(study: optuna.Study, experiment_id: str) -> int:
    """Close trial runs still RUNNING whose trial is finished (their worker died).

    Called at the start and the end of every invocation; returns how many runs it closed.
    """
    client = MlflowClient()
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    closed = 0
    query = f"tags.`{STUDY_TAG}` = '{study.study_name}'"
    for run in _running_runs(client, [experiment_id], query):
        number = run.data.tags.get(TRIAL_NUMBER_TAG)
        state = states.get(int(number)) if number and number.isdigit() else None
        if state is not None and state.is_finished():
            _fail_run(client, run.info.run_id, LOST_REASON)
            closed += 1
    return closed


def _fail_run(client: MlflowClient, run_id: str, reason: str) -> None:
    try:
        client.set_tag(run_id, FAIL_REASON_TAG, reason)
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        log.warning("MLflow run %s of a lost trial marked FAILED", run_id)
    except MlflowException as exc:
        log.warning("could not close MLflow run %s: %s", run_id, exc)


def trial_run_ids(study: optuna.Study, experiment_id: str) -> dict[int, str]:
    """Trial number -> MLflow run id (from the trial's attrs, else from the run's tags)."""
    found = {
        t.number: str(t.user_attrs[RUN_ID_ATTR])
        for t in study.get_trials(deepcopy=False)
        if RUN_ID_ATTR in t.user_attrs
    }
    client = MlflowClient()
    query = f"tags.`{STUDY_TAG}` = '{study.study_name}'"
    for run in client.search_runs([experiment_id], filter_string=query, max_results=10_000):
        number = run.data.tags.get(TRIAL_NUMBER_TAG, "")
        if number.isdigit():
            found.setdefault(int(number), run.info.run_id)
    return found


def log_study(
    study: optuna.Study, space: SearchSpace, metrics: tuple[str, ...], experiment_id: str
) -> dict[str, Any]:
    """Log the study's outcome into the active (parent) run; returns the summary dict.

    Params ``best.<key>`` and metric ``best_value`` (one objective) or ``pareto.json`` (several),
    ``trials.csv``, and Optuna's plots as self-contained HTML under ``plots/``.
    """
    trials = study.get_trials(deepcopy=False)
    run_ids = trial_run_ids(study, experiment_id)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    summary: dict[str, Any] = {"n_trials": len(trials), **{f"n_{k}": v for k, v in counts.items()}}
    mlflow.log_metrics({f"trials_{k}": float(v) for k, v in summary.items()})
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        frame = study.trials_dataframe()
        if not frame.empty:
            frame["mlflow_run_id"] = frame["number"].map(run_ids)
            frame["fail_reason"] = frame["number"].map(
                {t.number: t.user_attrs.get(FAIL_REASON_ATTR, "") for t in trials}
            )
        frame.to_csv(out / "trials.csv", index=False)
        mlflow.log_artifact(str(out / "trials.csv"))
        if complete and len(metrics) == 1:
            best = study.best_trial
            params = decode_params(best.params, space)
            summary.update(best_value=best.value, best_trial=best.number, best_params=params)
            summary["best_run_id"] = run_ids.get(best.number)
            mlflow.log_params({f"best.{k}": _short(v) for k, v in params.items()})
            if best.value is not None and math.isfinite(best.value):
                mlflow.log_metric("best_value", best.value)
            mlflow.set_tags({"btcrl.best_trial": str(best.number)})
            if summary["best_run_id"]:
                mlflow.set_tag("btcrl.best_run_id", summary["best_run_id"])
            _write_json(
                out / "best_params.json",
                {
                    "trial": best.number,
                    "value": best.value,
                    "run_id": summary["best_run_id"],
                    "params": params,
                },
            )
            mlflow.log_artifact(str(out / "best_params.json"))
        elif complete:
            pareto = [
                {
                    "trial": t.number,
                    "values": dict(zip(metrics, t.values or [], strict=False)),
                    "run_id": run_ids.get(t.number),
                    "params": decode_params(t.params, space),
                }
                for t in study.best_trials
            ]
            summary["pareto"] = pareto
            mlflow.log_metric("pareto_size", float(len(pareto)))
            _write_json(out / "pareto.json", pareto)
            mlflow.log_artifact(str(out / "pareto.json"))
        if complete:
            _log_plots(study, metrics, out / "plots")
    return summary


def _log_plots(study: optuna.Study, metrics: tuple[str, ...], folder: Path) -> None:
    """Optimisation history, parameter importance (and Pareto front) as HTML with plotly.js."""
    from optuna import visualization as vis

    folder.mkdir()
    figures: dict[str, Any] = {}
    for i, name in enumerate(metrics):
        suffix = "" if len(metrics) == 1 else f"_{i}"

        def target(t: FrozenTrial, i: int = i) -> float:
            return float((t.values or [math.nan])[i])

        tgt = None if len(metrics) == 1 else target
        figures[f"optimization_history{suffix}"] = lambda tgt=tgt, n=name: (
            vis.plot_optimization_history(study, target=tgt, target_name=n)
        )
        figures[f"param_importances{suffix}"] = lambda tgt=tgt, n=name: vis.plot_param_importances(
            study, target=tgt, target_name=n
        )
    if len(metrics) == 1 and any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        figures["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
    elif len(metrics) in (2, 3):
        figures["pareto_front"] = lambda: vis.plot_pareto_front(study, target_names=list(metrics))
    for name, make in figures.items():
        try:
            fig = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.info("plot %s skipped: %s", name, exc)  # e.g. importances need 2+ trials
            continue
        path = folder / f"{name}.html"
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        mlflow.log_artifact(str(path), artifact_path="plots")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:500]


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str))
