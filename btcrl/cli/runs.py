"""`btcrl runs`: an experiment's runs as a leaderboard, the deciding columns, best first."""

import csv
import math
import sys
from typing import TYPE_CHECKING

import click

from btcrl.cli.common import handle_errors

if TYPE_CHECKING:
    from btcrl.tracking.leaderboard import Leaderboard

_ID_WIDTH = 8
_NAME_WIDTH = 36


def _cell(header: str, value: float) -> str:
    from btcrl.tracking.leaderboard import COLUMNS

    if math.isnan(value):
        return "-"
    fmt = next((c.fmt for c in COLUMNS if c.header == header), ".2f")
    if fmt == "%":
        return f"{value:+.2%}" if header.startswith("xs") else f"{value:.2%}"
    if fmt == "int":
        return f"{value:.0f}"
    return f"{value:{fmt}}"


def _table(board: "Leaderboard", limit: int) -> list[list[str]]:
    show_status = any(r.status != "FINISHED" for r in board.rows)
    head = ["#", "run", "name", "stage", "on", *board.headers, "in-sample", "model"]
    if show_status:
        head.append("status")
    table = [head]
    for rank, row in enumerate(board.rows[:limit], start=1):
        name = row.name if len(row.name) <= _NAME_WIDTH else row.name[: _NAME_WIDTH - 1] + "~"
        cells = [str(rank), row.run_id[:_ID_WIDTH], name, row.stage or "-", row.basis or "-"]
        cells += [_cell(h, row.values.get(h, math.nan)) for h in board.headers]
        cells += [{"true": "YES", "false": "no"}.get(row.in_sample, "-"), row.model or "-"]
        if show_status:
            cells.append(row.status)
        table.append(cells)
    return table


def _print_table(table: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for cells in table:
        click.echo(
            "  ".join(
                c.rjust(w) if i != 2 else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )


def _write_csv(board: "Leaderboard") -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["run_id", "name", "stage", "on", *board.headers, "in_sample", "model", "status"])
    for row in board.rows:
        values = [
            "" if math.isnan(v) else repr(v)
            for v in (row.values.get(h, math.nan) for h in board.headers)
        ]
        out.writerow(
            [
                row.run_id,
                row.name,
                row.stage,
                row.basis,
                *values,
                row.in_sample,
                row.model,
                row.status,
            ]
        )


@click.command()
@click.option(
    "--experiment",
    default="btcrl-train",
    show_default=True,
    help="MLflow experiment: btcrl-train, btcrl-backtest, btcrl-walkforward, btcrl-tune.",
)
@click.option(
    "--filter",
    "filter_string",
    default="",
    metavar="EXPR",
    help="MLflow search syntax, e.g. \"tags.`btcrl.algo` = 'sac'\" or "
    '"metrics.`val/sharpe` > 0.5".',
)
@click.option("--csv", "as_csv", is_flag=True, help="Every matching run as CSV on stdout.")
@click.option("--limit", default=20, show_default=True, help="Rows of the table.")
@click.option(
    "--tracking-uri",
    default=None,
    envvar="MLFLOW_TRACKING_URI",
    help="Store (env MLFLOW_TRACKING_URI, default the project's mlruns/mlflow.db).",
)
@handle_errors
def runs(
    experiment: str, filter_string: str, as_csv: bool, limit: int, tracking_uri: str | None
) -> None:
    """Rank an experiment's runs by annualised Sharpe on the span that judges them
    (validation for train runs, out-of-sample for walk-forward segments and tune trials,
    the stitched out-of-sample curve for walk-forward parents, the period for backtests),
    with excess over buy-and-hold (and over the prior when logged), max drawdown, turnover,
    DSR, trades, the in-sample flag and the model version."""
    from btcrl.config import TrackingConfig
    from btcrl.tracking import configure_tracking
    from btcrl.tracking.leaderboard import leaderboard, ui_link

    configure_tracking(TrackingConfig(uri=tracking_uri or None))
    board = leaderboard(experiment, filter_string)
    if as_csv:
        _write_csv(board)
        return
    if not board.rows:
        click.echo(
            f"no runs in {experiment}" + (f" match {filter_string!r}" if filter_string else "")
        )
        return
    click.echo(
        f"{experiment}: {len(board.rows)} run{'s' if len(board.rows) > 1 else ''}, "
        "best annualised Sharpe first "
        "(on = the span the metrics come from; xs = excess; max DD and returns in %)"
    )
    _print_table(_table(board, limit))
    if len(board.rows) > limit:
        click.echo(f"... {len(board.rows) - limit} more (--limit, --csv)")
    click.echo(f"in the UI (mlflow ui): {ui_link(board.experiment_id)}")
