"""`btcrl pretrain`: pre-train the market encoder on the train span, register it."""

import os
import sys
import time
from pathlib import Path

import click

from btcrl.cli.common import (
    BLANK_INT,
    build_experiment_config,
    config_options,
    data_options,
    handle_errors,
)

_PRETRAIN_KEYS = {
    "steps": "pretrain.steps",
    "window": "pretrain.window",
    "seed": "seed",
    "device": "pretrain.device",
}


@click.command()
@click.option(
    "--steps", type=BLANK_INT, default=None, help="Gradient steps (default pretrain.steps, 1500)."
)
@click.option(
    "--window", type=BLANK_INT, default=None, help="Bars per window (default pretrain.window, 64)."
)
@click.option("--seed", type=BLANK_INT, default=None, help="Seed (default the config's, 42).")
@click.option("--device", default=None, help="auto | cpu | cuda (default pretrain.device, auto).")
@config_options
@data_options
@handle_errors
def pretrain(config_path: Path | None, overrides: tuple[str, ...], **options: object) -> None:
    """Train a masked autoencoder on feature windows of the train span (the span `btcrl train`
    trains on with the same config) and register it as btcrl-encoder (alias candidate).

    Use it with: btcrl train --set agent.encoder=models:/btcrl-encoder@candidate
    """
    from tqdm import tqdm

    from btcrl.agents.pretraining import run_pretraining
    from btcrl.jobs.processes import set_torch_threads

    config = build_experiment_config(config_path, overrides, options, _PRETRAIN_KEYS)
    set_torch_threads(config.pretrain.torch_threads)
    quiet = not sys.stderr.isatty() or bool(os.environ.get("CI"))
    with tqdm(
        total=config.pretrain.steps, desc="pretrain", unit="step", disable=quiet, mininterval=1.0
    ) as bar:
        lines = _ProgressLines(config.pretrain.steps) if quiet else None

        def on_eval(step: int, metrics: dict[str, float]) -> None:
            bar.update(step - bar.n)
            if "loss/holdout" in metrics:
                bar.set_postfix(
                    holdout=f"{metrics['loss/holdout']:.4f}",
                    baseline=f"{metrics['loss/baseline']:.4f}",
                )
            if lines is not None:
                lines(step, metrics)

        result = run_pretraining(config, on_eval=on_eval)
    click.echo(f"run id:      {result.run_id}")
    click.echo(f"encoder URI: {result.model_uri}")
    for key in ("loss/holdout", "loss/baseline"):
        if key in result.metrics:
            click.echo(f"{key}: {result.metrics[key]:.5f}")
    click.echo(f"samples/s:   {result.samples_per_second:.0f}")


class _ProgressLines:
    """Without a terminal (pipes, logs, CI): one line on stderr every ``every_s`` seconds of
    pre-training and at its last step, instead of a bar."""

    def __init__(self, total: int, every_s: float = 30.0) -> None:
        self.total = total
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and step < self.total:
            return
        self.last = now
        losses = "".join(
            f", {key.removeprefix('loss/')} loss {metrics[key]:.4f}"
            for key in ("loss/holdout", "loss/baseline")
            if key in metrics
        )
        click.echo(
            f"pretrain: step {step:,}/{self.total:,} ({step / self.total:.0%}){losses}", err=True
        )
