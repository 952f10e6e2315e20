"""`btcrl train`: train PPO/SAC/TQC, log the run to MLflow, register the model."""

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from btcrl.cli.common import build_experiment_config, config_options, data_options, handle_errors
from btcrl.config import ExperimentConfig, dump_config
from btcrl.errors import ConfigError, NotAvailableError

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
@click.option("--algo", default=None, help="ppo | sac | tqc (default: the config's, ppo).")
@click.option("--total-timesteps", default=None, help="Env-steps to train (more, with --resume).")
@click.option("--n-envs", default=None, help="Parallel envs in the batched env.")
@click.option("--seed", default=None, help="Seed of everything (envs use seed + index).")
@click.option("--device", default=None, help="auto | cpu | cuda (default auto).")
@click.option("--resume", default=None, metavar="RUN_ID", help="Continue that run's checkpoint.")
@click.option("--backtest-start", default=None, metavar="YYYY-MM-DD", help="Backtest afterwards.")
@click.option("--backtest-end", default=None, metavar="YYYY-MM-DD", help="Backtest period end.")
@config_options
@data_options
@handle_errors
def train(config_path: Path | None, overrides: tuple[str, ...], **options: str | None) -> None:
    """Train an agent on the train span, validate on the rest, register the model.

    Prints the run id, the model URI and how to open the MLflow UI.
    """
    from btcrl.agents import run_training
    from btcrl.tracking import configure_tracking

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if logging.getLogger().level >= logging.WARNING:  # MLflow's own info lines only with -v
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    config = _load(config_path, overrides, options)
    uri = configure_tracking(config.tracking)
    progress = sys.stderr.isatty() and not os.environ.get("CI")
    with _terminate_as_interrupt():
        result = run_training(config, progress=progress)
    click.echo(f"run id:    {result.run_id}")
    click.echo(f"model URI: {result.model_uri}")
    for key in ("val/total_return", "val/sharpe", "val/max_drawdown"):
        if key in result.metrics:
            click.echo(f"{key}: {result.metrics[key]:.4f}")
    if config.backtest.start or config.backtest.end:
        metrics = _backtest(config, result.model_uri, result.run_id)
        for key in ("total_return", "sharpe", "max_drawdown", "bh_total_return"):
            if key in metrics:
                click.echo(f"backtest/{key}: {metrics[key]:.4f}")
        click.echo(f"backtest: {len(metrics)} metrics logged on the run as backtest/*")
    click.echo(f"see it:    mlflow ui --backend-store-uri {_short_uri(uri)}")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a container stop) ends the run KILLED like Ctrl-C, not RUNNING."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _short_uri(uri: str) -> str:
    """``sqlite:///mlruns/mlflow.db`` when the store is under the working directory."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri.removeprefix(prefix))
        if path.is_absolute() and path.is_relative_to(Path.cwd()):
            return prefix + str(path.relative_to(Path.cwd()))
    return uri


def _load(
    config_path: Path | None, overrides: tuple[str, ...], options: dict[str, str | None]
) -> ExperimentConfig:
    """Config file (or, with --resume, the old run's config) <- --set <- options."""
    resume = options.get("resume")
    if not resume:
        return build_experiment_config(config_path, overrides, options, _TRAIN_KEYS)
    if config_path is not None:
        raise ConfigError("--resume trains with the old run's config: use --set, not --config")
    from btcrl.agents.resume import resume_config
    from btcrl.tracking import configure_tracking

    base = build_experiment_config(None, overrides, {}, {})
    configure_tracking(base.tracking)
    old = resume_config(resume)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(dump_config(old))
        return build_experiment_config(path, overrides, options, _TRAIN_KEYS)


def _backtest(config: ExperimentConfig, model_uri: str, run_id: str) -> dict[str, float]:
    """Backtest the new model over [backtest.start, backtest.end]; copy metrics as backtest/*."""
    try:
        from btcrl.backtest import backtest_after_training
    except ImportError:
        raise NotAvailableError(
            "--backtest-start/--backtest-end need btcrl.backtest.backtest_after_training, "
            "which this version does not provide yet; run `btcrl backtest` instead"
        ) from None
    import math

    from mlflow.tracking import MlflowClient

    headline = backtest_after_training(config, model_uri, run_id)
    metrics = {
        k: float(v)
        for k, v in headline.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    client = MlflowClient()
    for key, value in metrics.items():
        client.log_metric(run_id, f"backtest/{key}", value)
    return metrics
