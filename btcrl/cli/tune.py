"""`btcrl tune`: an Optuna study over training runs (docs/tune.md)."""

import math
import sys
from pathlib import Path

import click

from btcrl.cli.common import build_experiment_config, config_options, data_options, handle_errors

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
}


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@click.option("--trials", default=None, help="Trials to run in this invocation (default 20).")
@click.option("--study", default=None, help="Study name; re-running the same name resumes it.")
@click.option(
    "--storage",
    default=None,
    envvar="BTCRL_TUNE_STORAGE",
    help="Optuna RDB URL (env BTCRL_TUNE_STORAGE; default sqlite:///studies/<study>.db).",
)
@click.option("--workers", default=None, help="Worker processes on this machine (default 1).")
@click.option("--timeout", default=None, help="Seconds after which no new trial starts.")
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
@click.option("--space", default=None, help="Search space YAML, or a name in configs/spaces.")
@click.option("--pruner", default=None, help="median | hyperband | none (default median).")
@click.option("--budget-timesteps", default=None, help="Env-steps per trial (quick budget).")
@click.option(
    "--register-best",
    is_flag=True,
    default=False,
    help="Register the best trial's model with alias 'tuned'.",
)
@handle_errors
def tune(
    config_path: Path | None,
    overrides: tuple[str, ...],
    metrics: tuple[str, ...],
    directions: tuple[str, ...],
    register_best: bool,
    **options: object,
) -> None:
    """Tune hyperparameters and trading/reward parameters with an Optuna study.

    Every trial is a training run (nested under one parent MLflow run); validation metrics
    are reported to the pruner. Re-running with the same --study and --storage resumes.
    """
    from btcrl.tune import run_study

    extra = list(overrides)
    metrics = tuple(m for m in metrics if m)  # MLproject passes "" for unset
    directions = tuple(d for d in directions if d)
    if metrics:
        extra.append(f"tune.metrics=[{', '.join(repr(m) for m in metrics)}]")
        if not directions:
            directions = ("maximize",) * len(metrics)
    if directions:
        extra.append(f"tune.directions=[{', '.join(directions)}]")
    if register_best:
        extra.append("tune.register_best=true")
    config = build_experiment_config(config_path, tuple(extra), options, _TUNE_KEYS)
    result = run_study(config, progress=sys.stderr.isatty())
    s = result.summary
    click.echo(
        f"study {result.study_name} ({result.storage}): trials {result.first_trial}.."
        f"{result.n_trials - 1} in parent run {result.parent_run_id}; "
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
    if any(code != 0 for code in result.worker_exit_codes):
        raise SystemExit(1)
