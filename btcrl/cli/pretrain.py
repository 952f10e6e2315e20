"""`btcrl pretrain`: pre-train the market encoder on the train span, register it."""

import os
import sys
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
def pretrain(config_path: Path | None, overrides: tuple[str, ...], **options: str | None) -> None:
    """Train a masked autoencoder on feature windows of the train span (the span `btcrl train`
    trains on with the same config) and register it as btcrl-encoder (alias candidate).

    Use it with: btcrl train --set agent.encoder=models:/btcrl-encoder@candidate
    """
    from tqdm import tqdm

    from btcrl.agents.pretraining import run_pretraining

    config = build_experiment_config(config_path, overrides, options, _PRETRAIN_KEYS)
    quiet = not sys.stderr.isatty() or bool(os.environ.get("CI"))
    with tqdm(
        total=config.pretrain.steps, desc="pretrain", unit="step", disable=quiet, mininterval=1.0
    ) as bar:

        def on_eval(step: int, metrics: dict[str, float]) -> None:
            bar.update(step - bar.n)
            if "loss/holdout" in metrics:
                bar.set_postfix(
                    holdout=f"{metrics['loss/holdout']:.4f}",
                    baseline=f"{metrics['loss/baseline']:.4f}",
                )

        result = run_pretraining(config, on_eval=on_eval)
    click.echo(f"run id:      {result.run_id}")
    click.echo(f"encoder URI: {result.model_uri}")
    for key in ("loss/holdout", "loss/baseline"):
        if key in result.metrics:
            click.echo(f"{key}: {result.metrics[key]:.5f}")
    click.echo(f"samples/s:   {result.samples_per_second:.0f}")
