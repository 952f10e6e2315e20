"""The walk-forward's one self-contained HTML report (plotly.js inline: renders offline).

Stitched equity of the primary seed against buy-and-hold (linear / log toggle), the
per-segment return and alpha bars, and the stitched drawdown, above a table of the headline
metrics.
"""

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from btcrl.backtest.plots import drawdown_figure, equity_figure, equity_frame
from btcrl.walkforward.aggregate import Aggregate
from btcrl.walkforward.oos import BUY_AND_HOLD

HEADLINE = (
    "stitched/total_return",
    "stitched/cagr",
    "stitched/sharpe",
    "stitched/sortino",
    "stitched/max_drawdown",
    "stitched/calmar",
    "stitched/turnover",
    "stitched/fees_fraction",
    "stitched/avg_exposure",
    "buy_and_hold/total_return",
    "buy_and_hold/sharpe",
    "alpha/mean",
    "alpha/share_beating_bh",
    "stats/psr",
    "stats/dsr",
    "stats/n_trials",
    "stats/min_track_record_bars",
    "stats/track_record_bars",
    "seeds/sharpe_mean",
    "seeds/sharpe_std",
)


def segment_figure(result: Aggregate) -> go.Figure:
    """Per-segment out-of-sample return (%) of the primary seed, buy-and-hold's and the
    alpha (%), as grouped bars."""
    table = result.table[result.table["seed"] == result.seeds[0]]
    labels = [f"{i} ({t[:7]})" for i, t in zip(table["segment"], table["test_start"], strict=True)]
    fig = go.Figure()
    for column, name in (
        ("oos_total_return", "model"),
        ("bh_return", "buy and hold"),
        ("alpha", "alpha"),
    ):
        fig.add_trace(go.Bar(x=labels, y=100.0 * table[column].to_numpy(), name=name))
    fig.update_layout(
        title="per-segment out-of-sample return and alpha (%)",
        barmode="group",
        yaxis_title="%",
        template="plotly_white",
    )
    return fig


def write_report(result: Aggregate, title: str, path: Path) -> None:
    """Write the report to ``path`` (one HTML file)."""
    primary = result.primary
    bench = result.baselines[BUY_AND_HOLD]
    n = min(len(primary.equity), len(bench.equity))
    frame = equity_frame(
        primary.times[:n], primary.equity[:n], bench.equity[:n], np.zeros(n), np.zeros(n)
    )
    figures = [
        equity_figure(frame, f"{title}: stitched out-of-sample equity vs buy and hold"),
        segment_figure(result),
        drawdown_figure(frame, f"{title}: stitched drawdown"),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{result.metrics[k]:.6g}</td></tr>"
        for k in HEADLINE
        if k in result.metrics
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Each test window starts flat with the previous window's final equity; positions "
        "are closed (with costs) at each window's end. Statistics use the primary seed's "
        "per-bar stitched returns.</p>",
        f"<table border='1' cellpadding='4' style='border-collapse:collapse'>{rows}</table>",
    ]
    for i, fig in enumerate(figures):
        fig.update_layout(template="plotly_white")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
