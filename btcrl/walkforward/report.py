"""The walk-forward's one self-contained HTML report (plotly.js inline: renders offline).

Stitched equity of the primary seed against buy-and-hold (linear / log toggle), the
per-segment return and alpha bars, and the stitched drawdown, above a table of the headline
metrics and the runs the DSR counted (the trial ledger's entries on the same windows).
"""

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from btcrl.backtest.plots import drawdown_figure, equity_figure, equity_frame
from btcrl.metrics.stats import TrialCount
from btcrl.policy.policies import PRIOR_RULE
from btcrl.walkforward.aggregate import Aggregate
from btcrl.walkforward.oos import BUY_AND_HOLD

#: (metric, label, format): "%" shows a fraction as a signed percentage, "%u" unsigned
HEADLINE = (
    ("stitched/total_return", "stitched total return", "%"),
    ("stitched/cagr", "stitched CAGR", "%"),
    ("stitched/sharpe", "stitched Sharpe (annualised)", ".2f"),
    ("stitched/sortino", "stitched Sortino (annualised)", ".2f"),
    ("stitched/max_drawdown", "stitched max drawdown", "%"),
    ("stitched/calmar", "stitched Calmar", ".2f"),
    ("stitched/turnover", "stitched turnover (x mean equity)", ",.0f"),
    ("stitched/fees_fraction", "fees (of starting capital)", "%"),
    ("stitched/costs_fraction", "fees + slippage + carry (of starting capital)", "%"),
    ("stitched/return_before_costs", "stitched return before costs", "%"),
    ("stitched/avg_exposure", "average exposure", "%u"),
    ("buy_and_hold/total_return", "buy-and-hold total return", "%"),
    ("buy_and_hold/sharpe", "buy-and-hold Sharpe (annualised)", ".2f"),
    ("buy_and_hold/max_drawdown", "buy-and-hold max drawdown", "%"),
    ("buy_and_hold/excess_sharpe", "excess over buy-and-hold: Sharpe (annualised)", ".2f"),
    ("buy_and_hold/excess_psr", "excess over buy-and-hold: PSR (SR* = 0)", ".3f"),
    ("trend_voltarget/total_return", "prior trend_voltarget total return", "%"),
    ("trend_voltarget/sharpe", "prior trend_voltarget Sharpe (annualised)", ".2f"),
    ("trend_voltarget/max_drawdown", "prior trend_voltarget max drawdown", "%"),
    ("trend_voltarget/excess_return", "excess over the prior: total return", "%"),
    ("trend_voltarget/excess_sharpe", "excess over the prior: Sharpe (annualised)", ".2f"),
    ("trend_voltarget/excess_psr", "excess over the prior: PSR (SR* = 0)", ".3f"),
    ("alpha/mean", "mean alpha per segment", "%"),
    ("alpha/share_beating_bh", "segments beating buy-and-hold", "%u"),
    ("stats/psr", "PSR (SR* = 0)", ".3f"),
    ("stats/dsr", "DSR (n/a when N = 1: read the PSR)", ".3f"),
    ("stats/n_trials", "configurations counted on these windows (DSR N)", ".0f"),
    ("stats/sharpe_variance", "variance of their per-bar Sharpe ratios (DSR V)", ".3g"),
    ("stats/min_track_record_bars", "minimum track record (bars)", ",.0f"),
    ("stats/track_record_bars", "track record (bars)", ",.0f"),
    ("seeds/sharpe_mean", "Sharpe (annualised), mean over seeds", ".2f"),
    ("seeds/sharpe_std", "Sharpe (annualised), std over seeds", ".2f"),
    ("ensemble/total_return", "ensemble of the seeds: total return", "%"),
    ("ensemble/sharpe", "ensemble of the seeds: Sharpe (annualised)", ".2f"),
    ("ensemble/max_drawdown", "ensemble of the seeds: max drawdown", "%"),
    ("ensemble/turnover", "ensemble of the seeds: turnover (x mean equity)", ",.0f"),
    ("ensemble/buy_and_hold/excess_sharpe", "ensemble excess over buy-and-hold: Sharpe", ".2f"),
    ("ensemble/trend_voltarget/excess_return", "ensemble excess over the prior: return", "%"),
    ("ensemble/trend_voltarget/excess_sharpe", "ensemble excess over the prior: Sharpe", ".2f"),
    ("ensemble/psr", "ensemble of the seeds: PSR (SR* = 0)", ".3f"),
    ("ensemble/dsr", "ensemble of the seeds: DSR (n/a when N = 1)", ".3f"),
)


def _cell(value: float, fmt: str) -> str:
    """``value`` as the table shows it (``%`` / ``%u``: a fraction as a percentage)."""
    if not np.isfinite(value):
        return "n/a" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    if fmt.startswith("%"):
        return f"{100.0 * value:{'+' if fmt == '%' else ''}.2f} %"
    return format(value, fmt)


def trials_html(trials: TrialCount | None) -> str:
    """What the DSR counted, as HTML: N, V, who counted and the runs; with N = 1 a warning
    that the figure is the PSR."""
    if trials is None:
        return ""
    if trials.single:
        head = (
            "<p><b>PSR, not a DSR:</b> N = 1, no other configuration was tried on these "
            "out-of-sample windows, so nothing deflates it for selection. "
            "<code>btcrl promote</code> refuses it without <code>--allow-single-trial</code>."
            "</p>"
        )
    else:
        head = (
            f"<p>The DSR counts N = {trials.n_trials} configurations tried on these "
            f"out-of-sample windows ({html.escape(trials.source)}), whose per-bar Sharpe "
            f"ratios vary with V = {trials.sharpe_variance:.3g}:</p>"
        )
    rows = "".join(
        f"<tr><td><code>{html.escape(label)}</code></td><td style='text-align:right'>"
        f"{sharpe:.5f}</td></tr>"
        for label, sharpe in zip(trials.counted, trials.sharpes, strict=False)
    )
    table = (
        "<table border='1' cellpadding='4' style='border-collapse:collapse'>"
        f"<tr><th>run counted</th><th>per-bar Sharpe</th></tr>{rows}</table>"
    )
    return head + (table if rows else "")


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


def _breakdowns(result: Aggregate, frame: pd.DataFrame) -> str:
    """By regime (agent, buy-and-hold and the prior when it ran), by HMM state
    (``features.hmm`` on) and the trade table of the stitched primary seed. The regimes read
    the stitched buy-and-hold curve as the price (it moves with the close within each
    window)."""
    from btcrl.backtest.breakdown import (
        PRIOR_CURVE,
        breakdown_html,
        curves_of,
        hmm_state_labels,
        regime_table,
        state_table,
        trade_summary,
    )

    if len(frame) < 3:
        return ""
    spacing = float(np.median(np.diff(frame.index.as_unit("ns").asi8))) / 1e9
    ppy = 365 * 24 * 3600 / spacing
    priced = frame.assign(close=frame["buy_and_hold"])
    prior = result.baselines.get(PRIOR_RULE)
    if prior is not None:
        curve = pd.Series(prior.equity, prior.times[: len(prior.equity)])
        priced[PRIOR_CURVE] = curve.reindex(priced.index).ffill().to_numpy()
    states = hmm_state_labels(result.primary.steps)
    if states is not None and len(states) >= len(priced):
        priced["hmm_state"] = states[: len(priced)]
    curves = curves_of(priced, "model")
    return breakdown_html(
        regime_table(priced, curves, ppy),
        trade_summary(result.primary.trades),
        state_table(priced, curves, ppy),
    )


def write_report(result: Aggregate, title: str, path: Path) -> None:
    """Write the report to ``path`` (one HTML file)."""
    primary = result.primary
    bench = result.baselines[BUY_AND_HOLD]
    n = min(len(primary.equity), len(bench.equity))
    frame = equity_frame(
        primary.times[:n], primary.equity[:n], bench.equity[:n], np.zeros(n), np.zeros(n)
    )
    equity = equity_figure(frame, f"{title}: stitched out-of-sample equity vs buy and hold")
    drawdown = drawdown_figure(frame, f"{title}: stitched drawdown")
    for fig in (equity, drawdown):  # x holds epoch milliseconds (btcrl.backtest.plots)
        fig.update_xaxes(type="date")
    figures = [equity, segment_figure(result), drawdown]
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td style='text-align:right'>"
        f"{_cell(result.metrics[key], fmt)}</td><td><code>{html.escape(key)}</code></td></tr>"
        for key, label, fmt in HEADLINE
        if key in result.metrics
    )
    first, last = primary.times[0], primary.times[-1]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Out of sample {first:%Y-%m-%d} .. {last:%Y-%m-%d} UTC, "
        f"{len(primary.windows)} segments. Each test window starts flat with the previous "
        "window's final equity; positions are closed (with costs) at each window's end. "
        "Statistics use the primary seed's per-bar stitched returns.</p>",
        f"<table border='1' cellpadding='4' style='border-collapse:collapse'>{rows}</table>",
        trials_html(result.trials),
    ]
    for i, fig in enumerate(figures):
        fig.update_layout(template="plotly_white")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append(_breakdowns(result, frame))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
