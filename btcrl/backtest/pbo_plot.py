"""The logit distribution of a CSCV run (:mod:`btcrl.backtest.pbo`) as a plotly figure.

Returns the figure only; writing it (self-contained HTML for MLflow) happens at the edges.
"""

import numpy as np
import plotly.graph_objects as go

from btcrl.backtest.pbo import PBOResult


def pbo_logit_figure(
    result: PBOResult, title: str = "CSCV logits of the in-sample best"
) -> go.Figure:
    """Histogram of the logits (one per combination) with the overfitting zone (logit <= 0)
    shaded; the title carries PBO as a percentage and the number of combinations."""
    logits = np.asarray(result.logits, dtype=np.float64)
    finite = logits[np.isfinite(logits)]
    fig = go.Figure()
    fig.add_trace(
        go.Histogram(x=finite, nbinsx=min(60, max(10, int(np.sqrt(finite.size)))), name="logits")
    )
    low = float(finite.min()) if finite.size else -1.0
    fig.add_vrect(
        x0=min(low, 0.0) - 0.5,
        x1=0.0,
        fillcolor="firebrick",
        opacity=0.12,
        line_width=0,
        annotation_text="in-sample best at or below the OOS median",
        annotation_position="top left",
    )
    fig.add_vline(x=0.0, line_dash="dash", line_color="firebrick")
    fig.update_layout(
        title=f"{title}: PBO {result.pbo:.1%} over {result.n_combinations:,} combinations",
        xaxis_title="logit ln(w / (1 - w)) of the OOS relative rank w",
        yaxis_title="combinations",
        bargap=0.05,
        showlegend=False,
    )
    return fig
