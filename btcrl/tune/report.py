"""What the parent MLflow run holds after a study, and repair of runs left by dead workers."""

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from btcrl.tracking import log_artifact, log_metrics, log_params, set_tags, tags
from btcrl.tracking.lookup import all_experiment_ids, end_run_as, find_runs
from btcrl.tune.objective import FAIL_REASON_ATTR, RUN_ID_ATTR, trial_key
from btcrl.tune.space import SearchSpace, decode_params

log = logging.getLogger(__name__)

LOST_REASON = "worker lost (no heartbeat); trial failed and retried"


def close_stale_trial_run(study: optuna.Study, trial: FrozenTrial) -> None:
    """End the MLflow run of a trial whose worker died: FAILED, with the reason as a tag."""
    key = trial_key(study.study_name, trial.number)
    for run in find_runs(all_experiment_ids(), {tags.TRIAL_KEY: key}, running_only=True):
        if end_run_as(run.run_id, "FAILED", LOST_REASON):
            log.warning("MLflow run %s of a lost trial marked FAILED", run.run_id)


def reconcile_trial_runs(study: optuna.Study, experiment_id: str) -> int:
    """Close trial runs still RUNNING whose trial is finished (their worker died).

    Called at the start and the end of every invocation; returns how many runs it closed.
    """
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    closed = 0
    for run in find_runs([experiment_id], {tags.STUDY: study.study_name}, running_only=True):
        number = run.tags.get(tags.TRIAL_NUMBER)
        state = states.get(int(number)) if number and number.isdigit() else None
        if state is not None and state.is_finished():
            closed += end_run_as(run.run_id, "FAILED", LOST_REASON)
    return closed


def trial_run_ids(study: optuna.Study, experiment_id: str) -> dict[int, str]:
    """Trial number -> MLflow run id (from the trial's attrs, else from the run's tags)."""
    found = {
        t.number: str(t.user_attrs[RUN_ID_ATTR])
        for t in study.get_trials(deepcopy=False)
        if RUN_ID_ATTR in t.user_attrs
    }
    for run in find_runs([experiment_id], {tags.STUDY: study.study_name}):
        number = run.tags.get(tags.TRIAL_NUMBER, "")
        if number.isdigit():
            found.setdefault(int(number), run.run_id)
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
    summary: dict[str, Any] = dict(trial_counts(trials))
    log_metrics({f"trials_{k}": float(v) for k, v in summary.items()})
    complete = any(t.state == TrialState.COMPLETE for t in trials)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _log_trials_table(study, run_ids, out / "trials.csv")
        if complete and len(metrics) == 1:
            summary.update(_log_best(study, space, run_ids, out))
        elif complete:
            summary["pareto"] = _log_pareto(study, space, metrics, run_ids, out)
        if complete:
            _log_plots(study, metrics, out / "plots")
    return summary


def trial_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    """``n_trials`` and ``n_<state>`` (complete, pruned, fail, running, waiting) of the study."""
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    return {"n_trials": len(trials), **{f"n_{k}": v for k, v in counts.items()}}


def _log_trials_table(study: optuna.Study, run_ids: dict[int, str], path: Path) -> None:
    frame = study.trials_dataframe()
    if not frame.empty:
        reasons = {t.number: t.user_attrs.get(FAIL_REASON_ATTR, "") for t in study.trials}
        frame["mlflow_run_id"] = frame["number"].map(run_ids)
        frame["fail_reason"] = frame["number"].map(reasons)
    frame.to_csv(path, index=False)
    log_artifact(path)


def _log_best(
    study: optuna.Study, space: SearchSpace, run_ids: dict[int, str], out: Path
) -> dict[str, Any]:
    best = study.best_trial
    params = decode_params(best.params, space)
    run_id = run_ids.get(best.number)
    log_params({f"best.{k}": _short(v) for k, v in params.items()})
    if best.value is not None:
        log_metrics({"best_value": best.value})
    set_tags({tags.BEST_TRIAL: str(best.number), **({tags.BEST_RUN_ID: run_id} if run_id else {})})
    payload = {"trial": best.number, "value": best.value, "run_id": run_id, "params": params}
    _write_json(out / "best_params.json", payload)
    log_artifact(out / "best_params.json")
    return {
        "best_value": best.value,
        "best_trial": best.number,
        "best_params": params,
        "best_run_id": run_id,
    }


def _log_pareto(
    study: optuna.Study,
    space: SearchSpace,
    metrics: tuple[str, ...],
    run_ids: dict[int, str],
    out: Path,
) -> list[dict[str, Any]]:
    pareto = [
        {
            "trial": t.number,
            "values": dict(zip(metrics, t.values or [], strict=False)),
            "run_id": run_ids.get(t.number),
            "params": decode_params(t.params, space),
        }
        for t in study.best_trials
    ]
    log_metrics({"pareto_size": float(len(pareto))})
    _write_json(out / "pareto.json", pareto)
    log_artifact(out / "pareto.json")
    return pareto


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
        log_artifact(path, "plots")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:500]


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str))
