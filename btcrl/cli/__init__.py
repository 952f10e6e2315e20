"""The ``btcrl`` command line: thin commands over library functions."""

import click

from btcrl import __version__
from btcrl.cli.backtest import backtest
from btcrl.cli.common import setup_logging
from btcrl.cli.features import features
from btcrl.cli.ingest import ingest
from btcrl.cli.pretrain import pretrain
from btcrl.cli.promote import promote
from btcrl.cli.runs import runs
from btcrl.cli.train import train
from btcrl.cli.tune import tune
from btcrl.cli.walkforward import walkforward
from btcrl.kernel_cache import drop_stale_kernels


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="btcrl")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Train RL agents to trade Bitcoin, backtest them honestly, track everything in MLflow."""
    setup_logging(verbose)
    drop_stale_kernels()  # before any command compiles or loads a kernel


main.add_command(ingest)
main.add_command(features)
main.add_command(train)
main.add_command(backtest)
main.add_command(tune)
main.add_command(promote)
main.add_command(walkforward)
main.add_command(pretrain)
main.add_command(runs)
