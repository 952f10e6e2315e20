"""`btcrl tune`: an Optuna study over training runs (docs/tune.md)."""

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from btcrl.cli.common import (
    BLANK_FLOAT,
    BLANK_INT,
    build_experiment_config,
    config_options,
    data_options,
    empty_uses_env,
    handle_errors,
    progress_bar,
    progress_modes,
    worker_failures,
)

if TYPE_CHECKING:
    from btcrl.config import ExperimentConfig
    from btcrl.tune import StudyResult

# Command options -> config keys (None and "" mean "keep the config's value").
_TUNE_KEYS = {
    "trials": "tune.trials",
    "study": "tune.study",
    "storage": "tune.storage",
    "workers": "tune.workers",
    "timeout": "tune.timeout",
    "algo": "agent.algo",
    "space": "tune.space",
    "pruner": "tune.pruner",
    "budget_timesteps": "tune.budget_timesteps",
    "objective": "tune.objective",
}


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@click.option(
    "--trials", type=BLANK_INT, default=None, help="Trials to run now.  [default: config, 20]"
)
@click.option("--study", default=None, help="Study name; re-running the same name resumes it.")
@click.option(
    "--storage",
    default=None,
    envvar="BTCRL_TUNE_STORAGE",
    callback=empty_uses_env,
    help="Optuna RDB URL (env BTCRL_TUNE_STORAGE; default sqlite:///studies/<study>.db, "
    "or beside another sqlite tracking store).",
)
@click.option(
    "--workers", type=BLANK_INT, default=None, help="Worker processes here.  [default: config, 1]"
)
@click.option(
    "--timeout", type=BLANK_FLOAT, default=None, help="Seconds after which no new trial starts."
)
@click.option("--algo", default=None, help="ppo | sac | tqc (default ppo).")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Validation metric to optimise, e.g. val/sharpe; repeat for multi-objective.",
)
@click.option(
    "--direction",
    "directions",
    multiple=True,
    help="maximize | minimize, one per --metric (default maximize).",
)
@click.option(
    "--objective",
    default=None,
    help="walkforward (stitched out-of-sample over tune.inner_folds folds) | holdout (one "
    "validation span).  [default: config]",
)
@click.option("--space", default=None, help="Search space YAML, or a name in configs/spaces.")
@click.option("--pruner", default=None, help="median | hyperband | none (default median).")
@click.option(
    "--budget-timesteps",
    type=BLANK_INT,
    default=None,
    help="Env-steps per trial (split over the walkforward objective's folds).  "
    "[default: config, 200000]",
)
@click.option(
    "--register-best",
    is_flag=True,
    default=False,
    help="Register the best trial's model with alias 'tuned'.",
)
@click.option(
    "--promote",
    is_flag=True,
    default=False,
    help="Then run the promotion gate on the challenger (btcrl promote); exit 1 if refused.",
)
@handle_errors
def tune(
    config_path: Path | None,
    overrides: tuple[str, ...],
    metrics: tuple[str, ...],
    directions: tuple[str, ...],
    register_best: bool,
    promote: bool,
    **options: object,
) -> None:
    """Tune hyperparameters and trading/reward parameters with an Optuna study.

    Every trial is a training run (nested under one parent MLflow run); validation metrics
    are reported to the pruner. Re-running with the same --study and --storage resumes.
    """
    from btcrl.tune import run_study

    values: dict[str, object] = {}  # typed, never re-parsed as YAML
    metrics = tuple(m for m in metrics if m)  # MLproject passes "" for unset
    directions = tuple(d for d in directions if d)
    if metrics:
        values["tune.metrics"] = list(metrics)
        if not directions:
            directions = ("maximize",) * len(metrics)
    if directions:
        values["tune.directions"] = list(directions)
    if register_best:
        values["tune.register_best"] = True
    config = build_experiment_config(config_path, overrides, options, _TUNE_KEYS, values)
    _in_process_worker(config.train.torch_threads)
    _, lines = progress_modes()
    with progress_bar(f"study {config.tune.study}", "trial") as bar:
        result = run_study(config, progress=bar, progress_lines=lines)
    s = result.summary
    ran = _numbers(result.ran)
    click.echo(
        f"study {result.study_name} ({result.storage}): {len(result.ran)} trial(s) run now "
        f"({ran}) in parent run {result.parent_run_id}; study total {result.n_trials}: "
        f"complete {s.get('n_complete', 0)}, pruned {s.get('n_pruned', 0)}, "
        f"failed {s.get('n_fail', 0)}"
    )
    if result.best_value is not None and not math.isnan(result.best_value):
        click.echo(
            f"best trial {s.get('best_trial')}: {config.tune.metrics[0]}="
            f"{result.best_value:.6g} run {s.get('best_run_id')}"
        )
        for key, value in result.best_params.items():
            click.echo(f"  {key} = {value}")
    elif "pareto" in s:
        click.echo(f"Pareto set: {len(s['pareto'])} trial(s) (pareto.json in the parent run)")
    if result.registered_version:
        click.echo(f"registered version {result.registered_version} with alias tuned")
    _conclusion(result)
    refused = promote and not _promote(config, result)
    lost = worker_failures(result.worker_exit_codes)
    if lost:  # the summary above covers the trials that finished
        held = "a trial a lost worker held is failed by its heartbeat and retried (tune.max_retry)"
        click.echo(f"error: {'; '.join(lost)}; {held}", err=True)
    if refused or lost:
        raise SystemExit(1)


def _in_process_worker(torch_threads: int) -> None:
    """Set up this process as the study's in-process worker (spawned ones do it in
    ``btcrl.jobs.processes.start_worker``): its torch threads, and Optuna's ~800-character
    line per trial ("Trial 3 finished ... Best is trial 1") only with -v: the progress bar and
    the summary say what happened."""
    import optuna

    from btcrl.jobs.processes import set_torch_threads

    set_torch_threads(torch_threads)
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def _conclusion(result: "StudyResult") -> None:
    """N, DSR, PBO, the held-back result, the challenger and the retrain command."""
    c = result.conclusion
    if c is None:
        return
    sel = c.selection
    click.echo(
        f"selection: N={sel.n_trials} trials tried, best DSR {sel.dsr:.3f} (per-bar Sharpe "
        f"{sel.best_sharpe_per_bar:.4f}, variance across trials {sel.sharpe_variance:.3g}), "
        f"PBO {sel.pbo:.3f} (S={sel.pbo_partitions}, {sel.n_series} series)"
    )
    if c.heldback is not None:
        rows = c.summary.get("metrics", {})
        pairs = ", ".join(
            f"{_label(k)} {_num(v['in_sample_best'], k)} -> {_num(v['heldback'], k)}"
            for k, v in rows.items()
        )
        window = f"{c.heldback.window[0]}..{c.heldback.window[1]}"
        click.echo(f"in-sample best -> held-back window {window}: {pairs}")
    if c.challenger_version is not None:
        click.echo(f"registered {c.model_name} version {c.challenger_version} as challenger")
    best = result.summary.get("best_trial")
    if best is not None:
        click.echo(
            f"retrain it at the full budget: btcrl train --from-study {result.study_name} "
            f"--trial {best} --storage '{result.storage}'"
        )


def _promote(config: "ExperimentConfig", result: "StudyResult") -> bool:
    """Run the promotion gate on the challenger; True when promoted."""
    from btcrl.promote.challenge import promote_model

    c = result.conclusion
    if c is None or c.challenger_version is None:
        click.echo("not promoted: the tune made no challenger (no held-back window or DSR)")
        return False
    outcome = promote_model(config, f"models:/{c.model_name}/{c.challenger_version}")
    click.echo(outcome.decision.reason)
    return outcome.decision.promote


_PERCENT_KEYS = ("return", "drawdown", "cagr", "exposure")  # fractions, shown in %


def _label(key: str) -> str:
    """A metric's name as printed: a Sharpe ratio says it is annualised (the per-bar one says
    so in its own name)."""
    if "sharpe" in key and "per_bar" not in key:
        return f"{key} (annualised)"
    return key


def _num(value: float | None, key: str = "") -> str:
    """A metric as the rest of the output prints it: returns and drawdowns in %."""
    if value is None:
        return "n/a"
    if any(part in key for part in _PERCENT_KEYS):
        return f"{value:+.2%}"
    return f"{value:.4g}"


def _numbers(numbers: list[int]) -> str:
    """``trials 3..7`` (contiguous), ``trials 3, 5, 9``, ``trial 4`` or ``none``."""
    if not numbers:
        return "none"
    if len(numbers) == 1:
        return f"trial {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"trials {numbers[0]}..{numbers[-1]}"
    return "trials " + ", ".join(str(n) for n in numbers)
