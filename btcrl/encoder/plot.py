"""The reconstruction plot of a pre-training run: one held-out window, its masked tokens and
what the encoder made of them (an HTML page with plotly.js inline, so it renders offline,
logged as ``reconstruction.html``)."""

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from btcrl.encoder.model import MaskedEncoder, random_mask, window_mean_baseline

PLOTTED_FEATURES = 4  # the first columns of the feature table


def reconstruction_html(
    model: MaskedEncoder,
    window: np.ndarray,
    names: tuple[str, ...],
    mask_ratio: float,
    seed: int = 0,
) -> str:
    """HTML of ``window`` (float32 (W, F), one held-out window) against the model's and the
    window-mean baseline's reconstruction of its masked tokens, for the first features."""
    values = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]
    mask = random_mask(1, values.shape[1], mask_ratio, torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        rebuilt = model(values.to(next(model.parameters()).device), mask.to(values.device))
    rebuilt_np = rebuilt[0].cpu().numpy()
    baseline = window_mean_baseline(values, mask)[0].numpy()
    hidden = mask[0].numpy()
    tokens = np.arange(values.shape[1]) - values.shape[1] + 1  # bars relative to t
    count = min(PLOTTED_FEATURES, values.shape[2])
    figure = make_subplots(rows=count, cols=1, shared_xaxes=True, subplot_titles=names[:count])
    series = (  # (name, x, y of feature k, trace style)
        ("true", tokens, lambda k: window[:, k], {"mode": "lines", "line": {"color": "black"}}),
        (
            "encoder (masked tokens)",
            tokens[hidden],
            lambda k: rebuilt_np[hidden, k],
            {"mode": "markers", "marker": {"color": "red"}},
        ),
        (
            "window mean",
            tokens[hidden],
            lambda k: baseline[hidden, k],
            {"mode": "markers", "marker": {"color": "grey", "symbol": "x"}},
        ),
    )
    for k in range(count):
        for name, x, y, style in series:
            trace = go.Scatter(x=x, y=y(k), name=name, showlegend=k == 0, **style)
            figure.add_trace(trace, row=k + 1, col=1)
    figure.update_layout(
        title=f"Masked reconstruction of one held-out window ({int(hidden.sum())} of "
        f"{hidden.size} bars masked)",
        height=220 * count + 120,
        xaxis_title="bar relative to the window's last (t)",
    )
    return figure.to_html(include_plotlyjs=True, full_html=True)  # renders offline
