"""The ``btcrl`` command line: thin commands over library functions.

Start-up (``btcrl.jobs.startup``): a command's module is imported only when that command
runs (``btcrl ingest`` never imports torch or optuna), with the garbage collector paused; the
command's heavy libraries are then imported the same way and the heap is frozen, so that the
collector never scans them again. ``BTCRL_GC_FREEZE=0`` restores the eager imports and
CPython's collector settings (the "before" of ``benchmarks/startup.py``).
"""

import importlib
from typing import Any

import click

from btcrl import __version__
from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports, freeze_enabled, gc_paused
from btcrl.kernel_cache import drop_stale_kernels

#: command name -> (the module that defines it, the start of its help as ``btcrl --help`` shows
#: it: listing the commands imports none of them; tests/cli/test_startup.py holds it to the code)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": (
        "btcrl.cli.ingest",
        "Fetch or import candles into the store, validate them and log an MLflow run.",
    ),
    "features": (
        "btcrl.cli.features",
        "Compute features for the configured data and write them to --out (parquet).",
    ),
    "train": (
        "btcrl.cli.train",
        "Train an agent on the train span, validate on the rest, register the model.",
    ),
    "backtest": (
        "btcrl.cli.backtest",
        "Backtest a model (or a rule) on --start..--end: steps, trades, metrics against ...",
    ),
    "tune": (
        "btcrl.cli.tune",
        "Tune hyperparameters and trading/reward parameters with an Optuna study.",
    ),
    "promote": (
        "btcrl.cli.promote",
        "Move NAME@champion to MODEL_URI (models:/NAME/V or models:/NAME@challenger) ...",
    ),
    "walkforward": (
        "btcrl.cli.walkforward",
        "Walk-forward evaluation: train every segment on its own past, test it on the ...",
    ),
    "pretrain": (
        "btcrl.cli.pretrain",
        "Train a masked autoencoder on feature windows of the train span (the span ...",
    ),
    "runs": (
        "btcrl.cli.runs",
        "Rank an experiment's runs by annualised Sharpe on the span that judges them ...",
    ),
}
#: libraries a command imports sooner or later, imported before the heap is frozen
_HEAVY = {
    "train": TRAINING_MODULES,
    "tune": (*TRAINING_MODULES, "optuna", "btcrl.tune.study"),
    "walkforward": (*TRAINING_MODULES, "optuna", "btcrl.walkforward.runner"),
    "pretrain": TRAINING_MODULES,
    "backtest": (*TRAINING_MODULES[:-1], "btcrl.backtest.runner"),
}


class _LazyCommands(dict[str, click.Command]):
    """``group.commands``: a command's module is imported the first time it is looked up."""

    def __missing__(self, name: str) -> click.Command:
        if name not in COMMANDS:
            raise KeyError(name)
        with gc_paused():
            command = getattr(importlib.import_module(COMMANDS[name][0]), name)
        self[name] = command
        return command

    def load_all(self) -> None:
        """Import every command now (the eager start-up of before)."""
        for name in COMMANDS:
            if name not in self:
                self.__missing__(name)


def _short_help(text: str, limit: int) -> str:
    """``text``'s first line in at most ``limit`` characters, cut at a word ("..." after);
    click's own helper for this is deprecated (removed in click 9)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    return line[: max(0, limit - 3)].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


class LazyGroup(click.Group):
    """A click group whose commands are imported only when one is looked up (or listed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands[cmd_name] if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from ``COMMANDS``, without importing a command."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _short_help(text, limit)) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def option_token(token: str) -> str:
    """Option names (and choices) read ``_`` as ``-``: ``mlflow run``'s ``-P total_timesteps=N``
    arrives as ``--total_timesteps N`` (MLproject); every subcommand inherits it."""
    return token.replace("_", "-")


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "token_normalize_func": option_token},
)
@click.version_option(__version__, prog_name="btcrl")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Train RL agents to trade Bitcoin, backtest them honestly, track everything in MLflow."""
    from btcrl.cli.common import setup_logging

    setup_logging(verbose)
    drop_stale_kernels()  # before any command compiles or loads a kernel
    freeze_after_imports(_HEAVY.get(ctx.invoked_subcommand or "", ()))


if not freeze_enabled():  # the eager imports of before (benchmarks/startup.py)
    main.commands.load_all()  # type: ignore[attr-defined]
