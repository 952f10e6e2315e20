"""`btcrl train`: train PPO/SAC/TQC, log the run to MLflow, register the model."""

import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from btcrl.cli.common import (
    BLANK_INT,
    build_experiment_config,
    config_options,
    data_options,
    empty_uses_env,
    handle_errors,
    option_values,
    progress_modes,
    terminate_as_interrupt,
)
from btcrl.config import ExperimentConfig
from btcrl.config.redact import redact
from btcrl.errors import ConfigError

if TYPE_CHECKING:
    from btcrl.agents import TrainResult
    from btcrl.agents.ensemble import EnsembleResult

# train options -> config keys (empty strings from MLproject mean "keep the config's value")
_TRAIN_KEYS = {
    "algo": "agent.algo",
    "total_timesteps": "train.total_timesteps",
    "n_envs": "train.n_envs",
    "seed": "seed",
    "device": "agent.device",
    "resume": "train.resume",
    "backtest_start": "backtest.start",
    "backtest_end": "backtest.end",
}


@click.command(context_settings={"ignore_unknown_options": False})
@click.option("--algo", default=None, help="ppo | sac | tqc  [default: config, ppo]")
@click.option(
    "--total-timesteps",
    type=BLANK_INT,
    default=None,
    help="Env-steps to train (more, with --resume).  [default: config, 65536]",
)
@click.option(
    "--n-envs", type=BLANK_INT, default=None, help="Parallel envs.  [default: config, 64]"
)
@click.option(
    "--seed",
    type=BLANK_INT,
    default=None,
    help="Train one model of this seed instead of the ensemble (unless --seeds).  "
    "[default: config, 42]",
)
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds: train a seed ensemble, one member per seed, registered as "
    "one model.  [default: config train.seeds, 0,1,2]",
)
@click.option("--device", default=None, help="auto | cpu | cuda  [default: config, auto]")
@click.option("--resume", default=None, metavar="RUN_ID", help="Continue that run's checkpoint.")
@click.option("--backtest-start", default=None, metavar="YYYY-MM-DD", help="Backtest afterwards.")
@click.option("--backtest-end", default=None, metavar="YYYY-MM-DD", help="Backtest period end.")
@click.option(
    "--from-study",
    default=None,
    metavar="NAME",
    help="Train the best (or --trial N) configuration of this tune study.",
)
@click.option("--trial", type=BLANK_INT, default=None, help="With --from-study: this trial.")
@click.option(
    "--storage",
    default=None,
    envvar="BTCRL_TUNE_STORAGE",
    callback=empty_uses_env,
    help="With --from-study: the study's Optuna storage (default sqlite:///studies/NAME.db).",
)
@config_options
@data_options
@handle_errors
def train(
    config_path: Path | None,
    overrides: tuple[str, ...],
    from_study: str | None,
    trial: int | None,
    storage: str | None,
    seeds: str | None,
    **options: object,
) -> None:
    """Train an agent on the train span, validate on the rest, register the model.

    Prints the run id, the model URI and how to open the MLflow UI. With --seeds, trains a
    seed ensemble (one member per seed) and registers it as one model.
    """
    from btcrl.jobs.processes import set_torch_threads
    from btcrl.tracking import configure_tracking

    if from_study:
        overrides = _study_overrides(config_path, overrides, from_study, trial, storage)
    elif trial is not None:
        raise ConfigError("--trial needs --from-study")
    from btcrl.cli.walkforward import parse_indices

    seed_list = parse_indices(seeds, "seeds")  # "" (MLproject's unset) keeps the config's
    if seed_list is not None:
        overrides = (*overrides, f"train.seeds={seed_list}")
    elif options.get("seed") not in (None, "") or options.get("resume") not in (None, ""):
        overrides = (*overrides, "train.seeds=null")  # one model of that seed / run
    config = _load(config_path, overrides, options)
    _check_backtest_period(config)  # before any training: a failing command moves no alias
    set_torch_threads(config.train.torch_threads)  # the process's side effects: here, at the edge
    uri = configure_tracking(config.tracking)
    bar, lines = progress_modes()
    with terminate_as_interrupt():
        result = _run(config, bar, lines)
    click.echo(f"run id:    {result.run_id}")
    click.echo(f"model URI: {result.model_uri}")
    for line in validation_table(result.metrics):
        click.echo(line)
    for key in ("val/return_before_costs", "train_span/total_return"):
        if key in result.metrics:
            unit = " (annualised)" if key.endswith("sharpe") else ""
            click.echo(f"{key}: {result.metrics[key]:.4f}{unit}")
    if config.backtest.start or config.backtest.end:
        from btcrl.backtest import backtest_after_training

        metrics = backtest_after_training(config, result.model_uri, result.run_id)
        for key in ("total_return", "sharpe", "max_drawdown", "bh_total_return"):
            if key in metrics:
                unit = " (annualised)" if key == "sharpe" else ""
                click.echo(f"backtest/{key}: {metrics[key]:.4f}{unit}")
        click.echo(f"backtest: {len(metrics)} metrics logged on the run as backtest/*")
    click.echo(f"see it:    {_mlflow_command()} ui --backend-store-uri {_store_uri(uri)}")
    click.echo(f"then open: {_runs_page(result.run_id)}")


def _run(
    config: ExperimentConfig, bar: bool, lines: Callable[[str], None] | None
) -> "TrainResult | EnsembleResult":
    """One model, or with ``train.seeds`` a seed ensemble (its member runs named)."""
    if not config.train.seeds:
        from btcrl.agents import run_training

        return run_training(config, progress=bar, progress_lines=lines)
    from btcrl.agents.ensemble import run_ensemble_training

    ensemble = run_ensemble_training(config, progress=bar, progress_lines=lines)
    members = ", ".join(m.run_id for m in ensemble.members)
    click.echo(f"ensemble of seeds {list(config.train.seeds)}: member runs {members}")
    return ensemble


def validation_table(metrics: dict[str, float]) -> list[str]:
    """Validation figures of the agent, the prior and buy-and-hold side by side (percent and
    annualised Sharpe), the agent's excess over each, and one line when it never traded."""
    rows = [("agent", ""), ("prior trend_voltarget", "prior_"), ("buy-and-hold", "bh_")]
    lines = [f"{'validation':<22} {'return':>9} {'Sharpe (annualised)':>20} {'max DD':>8}"]
    for label, prefix in rows:
        ret = metrics.get(f"val/{prefix}total_return", math.nan)
        sharpe = metrics.get(f"val/{prefix}sharpe", math.nan)
        dd = metrics.get(f"val/{prefix}max_drawdown", math.nan)
        if prefix and math.isnan(ret):
            continue  # no prior columns in this feature set
        lines.append(f"{label:<22} {ret:>+9.2%} {sharpe:>20.2f} {dd:>+8.2%}")
    excess = metrics.get("val/excess_prior_return", math.nan)
    if not math.isnan(excess):
        lines.append(
            f"agent - prior: return {excess:+.2%}, annualised Sharpe of the per-bar excess "
            f"{metrics.get('val/excess_prior_sharpe', math.nan):.2f} "
            f"(PSR {metrics.get('val/excess_prior_psr', math.nan):.2f})"
        )
    bh = metrics.get("val/total_return", math.nan) - metrics.get("val/bh_total_return", math.nan)
    lines.append(
        f"agent - buy-and-hold: return {bh:+.2%}, annualised Sharpe of the per-bar excess "
        f"{metrics.get('val/excess_sharpe', math.nan):.2f} "
        f"(PSR {metrics.get('val/excess_psr', math.nan):.2f})"
    )
    fills = metrics.get("val/fills")
    lines.append(f"fills on validation: {fills:.0f}" if fills is not None else "")
    if fills == 0:
        lines.append("the agent never traded on validation: it does not take @candidate")
    return [line for line in lines if line]


def _check_backtest_period(config: ExperimentConfig) -> None:
    """The backtest after training has an ordered period with candles in it: ConfigError or
    DataError now, not after a model was trained, registered and aliased."""
    if not (config.backtest.start or config.backtest.end):
        return
    from btcrl.backtest.period import resolve_period
    from btcrl.data import load_candles

    start, end = resolve_period(config)
    load_candles(config.data.model_copy(update={"start": start, "end": end}))


def _mlflow_command() -> str:
    """``mlflow`` when the one on PATH is this environment's, else the full path of the one
    beside this Python (``make quickstart`` runs .venv/bin/btcrl without activating .venv)."""
    beside = Path(sys.executable).parent / "mlflow"
    on_path = shutil.which("mlflow")
    if not beside.exists() or (on_path and Path(on_path) == beside):
        return "mlflow"
    return str(beside)


def _runs_page(run_id: str) -> str:
    """The run's experiment in ``mlflow ui``'s default address, opened on btcrl's saved view
    (the deciding columns, best first; ``btcrl.tracking.leaderboard.ui_link``) in the classic
    view."""
    from btcrl.tracking.leaderboard import ui_link
    from btcrl.tracking.lookup import get_run

    return ui_link(get_run(run_id).experiment_id)


def _store_uri(uri: str) -> str:
    """The store URI with an absolute path, so the printed command works from anywhere;
    credentials masked (the reader fills in their own)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        return prefix + str(Path(uri.removeprefix(prefix)).resolve())
    return redact(uri)


def _study_overrides(
    config_path: Path | None,
    overrides: tuple[str, ...],
    name: str,
    trial: int | None,
    storage: str | None,
) -> tuple[str, ...]:
    """The study trial's config values first, then the command's own ``--set`` values; the
    budget stays the config's (``train.total_timesteps``), not the study's quick one."""
    from btcrl.tune.from_study import study_overrides

    config = build_experiment_config(config_path, overrides, {}, {})
    number, found = study_overrides(config.tune, name, storage, trial, config.tracking)
    click.echo(f"from study {name}, trial {number}: {' '.join(found)}")
    return (*found, *overrides)


def _load(
    config_path: Path | None, overrides: tuple[str, ...], options: dict[str, object]
) -> ExperimentConfig:
    """Config file (or, with --resume, the old run's config) <- --set <- options."""
    resume = options.get("resume")
    if not resume:
        return build_experiment_config(config_path, overrides, options, _TRAIN_KEYS)
    if config_path is not None:
        raise ConfigError("--resume trains with the old run's config: use --set, not --config")
    from btcrl.agents.resume import resume_config
    from btcrl.config import with_overrides
    from btcrl.tracking import configure_tracking

    configure_tracking(build_experiment_config(None, overrides, {}, {}).tracking)
    config = resume_config(str(resume), overrides)
    return with_overrides(config, option_values(options, _TRAIN_KEYS))
