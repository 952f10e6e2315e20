"""Backtest plots: one ``report.html`` holding every figure, with plotly.js inline once (it
renders offline in the MLflow UI's artifact view).

Every figure takes the equity frame of :func:`equity_frame`: one row per point (the start
and every step), columns ``equity``, ``buy_and_hold`` (USD), ``close`` (USD), ``position``
(BTC), indexed by bar open time (UTC).
"""

import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

log = logging.getLogger(__name__)

PLOT_NAMES = ("equity", "drawdown", "trades", "rolling_sharpe", "monthly_returns")
MAX_POINTS = 3000  # per line (about twice a screen's width): a 62k-bar report stays < 6 MB


def equity_frame(
    times: pd.DatetimeIndex,
    equity: np.ndarray,
    buy_and_hold: np.ndarray,
    close: np.ndarray,
    position: np.ndarray,
) -> pd.DataFrame:
    """The frame every plot reads (all arrays of length steps + 1); times shown in UTC."""
    return pd.DataFrame(
        {"equity": equity, "buy_and_hold": buy_and_hold, "close": close, "position": position},
        index=times,
    )


def _x(values: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Times as float64 milliseconds since the epoch (UTC): plotly stores them as one binary
    block, and the figures' ``date`` x-axes (:func:`figures`) show them as dates."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC")
    return (index.as_unit("ns").asi8 // 1_000_000).astype(np.float64)


def thin(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of the points a line draws: all of them up to ``max_points``; beyond, the first
    and the last point and the lowest and highest of each of ``max_points / 2`` equal
    buckets, in time order (peaks and drawdowns survive; steps.csv keeps every bar)."""
    values = np.asarray(y, dtype=np.float64)
    n = values.size
    if n <= max_points:
        return np.arange(n)
    width = -(-n // (max_points // 2))
    padded = np.full(width * -(-n // width), np.nan)
    padded[:n] = values
    rows = padded.reshape(-1, width)
    base = np.arange(rows.shape[0]) * width
    low = np.argmin(np.where(np.isnan(rows), np.inf, rows), axis=1) + base
    high = np.argmax(np.where(np.isnan(rows), -np.inf, rows), axis=1) + base
    return np.unique(np.concatenate([[0, n - 1], low[low < n], high[high < n]]))


def _line(index: pd.DatetimeIndex, y: np.ndarray | pd.Series, **kwargs: object) -> go.Scatter:
    """A time-series line of at most ``MAX_POINTS`` points (:func:`thin`)."""
    values = np.asarray(y, dtype=np.float64)
    keep = thin(values)
    return go.Scatter(x=_x(index)[keep], y=values[keep], mode="lines", **kwargs)


def equity_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Strategy equity against buy-and-hold, with a linear / log y-axis toggle."""
    fig = go.Figure()
    fig.add_trace(_line(frame.index, frame["equity"], name="strategy"))
    fig.add_trace(_line(frame.index, frame["buy_and_hold"], name="buy and hold"))
    fig.update_layout(
        title=title,
        yaxis_title="equity (USD)",
        hovermode="x unified",
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 1.0,
                "xanchor": "right",
                "y": 1.12,
                "yanchor": "bottom",
                "buttons": [
                    {"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
                    {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
                ],
            }
        ],
    )
    return fig


def drawdown_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Drawdown (%) of the strategy and of buy-and-hold."""
    fig = go.Figure()
    for column, name in (("equity", "strategy"), ("buy_and_hold", "buy and hold")):
        values = frame[column].to_numpy()
        dd = (values / np.maximum.accumulate(values) - 1.0) * 100.0
        fig.add_trace(_line(frame.index, dd, name=name, fill="tozeroy"))
    fig.update_layout(title=title, yaxis_title="drawdown (%)", hovermode="x unified")
    return fig


def entry_fills(frame: pd.DataFrame) -> pd.DataFrame:
    """The order fills that opened, added to or flipped a position: ``time``, ``price`` (the
    fill's own price, USD, not a trade's average), ``qty`` (signed BTC) and ``side``. The
    order fills at the bar's open, so the position before it is the previous step's."""
    qty = frame["fill_qty"].to_numpy(dtype=float)
    after = frame["position"].to_numpy(dtype=float)
    before = np.concatenate([[0.0], after[:-1]])
    at_open = before + qty
    grows = np.abs(at_open) > np.abs(before) + 1e-12
    flips = np.sign(at_open) != np.sign(before)
    mask = (qty != 0) & (at_open != 0) & (grows | flips)
    return pd.DataFrame(
        {
            "time": frame.index[mask],
            "price": frame["fill_price"].to_numpy(dtype=float)[mask],
            "qty": qty[mask],
            "side": np.where(at_open[mask] > 0, "long", "short"),
        }
    )


def _entry_markers(frame: pd.DataFrame) -> list[go.Scatter]:
    """Long and short entry markers, one per entry fill at its own price."""
    if "fill_qty" not in frame or "fill_price" not in frame:
        return []
    entries = entry_fills(frame)
    out = []
    for side, symbol, color in (
        ("long", "triangle-up", "green"),
        ("short", "triangle-down", "red"),
    ):
        chosen = entries[entries["side"] == side]
        text = [
            f"{side} entry: {q:+.6f} BTC at {p:,.2f} USD"
            for q, p in zip(chosen["qty"], chosen["price"], strict=True)
        ]
        marker = {"symbol": symbol, "color": color, "size": 8}
        out.append(
            go.Scatter(
                x=_x(chosen["time"]), y=chosen["price"], name=f"{side} entry", mode="markers",
                text=text, marker=marker,
            )
        )  # fmt: skip
    return out


def _exit_markers(trades: pd.DataFrame) -> list[go.Scatter]:
    """One marker per closed trade at its exit price, with the trade's PnL and reason."""
    if not len(trades):
        return []
    chosen = trades[~trades["open"].astype(bool)]
    text = [
        f"trade {t} {s}: pnl {p:,.2f} USD ({q * 100:.2f} %), {r}"
        for t, s, p, q, r in zip(
            chosen["trade"],
            chosen["side"],
            chosen["pnl_usd"],
            chosen["pnl_pct"],
            chosen["exit_reason"],
            strict=True,
        )
    ]
    marker = {"symbol": "x", "color": "black", "size": 8}
    return [
        go.Scatter(
            x=_x(chosen["exit_time"]), y=chosen["exit_price"], name="exit", mode="markers",
            text=text, marker=marker,
        )
    ]  # fmt: skip


def trades_figure(frame: pd.DataFrame, trades: pd.DataFrame, title: str) -> go.Figure:
    """Close price with a marker at each entry fill's price (scale-ins each get one), exit
    markers at each trade's exit price, and the position (BTC) underneath."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
    fig.add_trace(_line(frame.index, frame["close"], name="close"), row=1, col=1)
    for trace in [*_entry_markers(frame), *_exit_markers(trades)]:
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(
        _line(
            frame.index,
            frame["position"],
            name="position (BTC)",
            line={"shape": "hv"},
            fill="tozeroy",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="price (USD)", row=1, col=1)
    fig.update_yaxes(title_text="position (BTC)", row=2, col=1)
    fig.update_layout(title=title, hovermode="x unified")
    return fig


def rolling_sharpe(values: np.ndarray, window: int, periods_per_year: float) -> np.ndarray:
    """Annualised Sharpe of per-bar returns over a trailing ``window`` (NaN before it)."""
    returns = pd.Series(values).pct_change()
    roll = returns.rolling(window, min_periods=window)
    std = roll.std()
    out = roll.mean() / std.where(std > 0) * np.sqrt(periods_per_year)
    return out.to_numpy()


def rolling_sharpe_figure(
    frame: pd.DataFrame, window: int, periods_per_year: float, title: str
) -> go.Figure:
    """Trailing-window annualised Sharpe of the strategy and of buy-and-hold."""
    fig = go.Figure()
    for column, name in (("equity", "strategy"), ("buy_and_hold", "buy and hold")):
        y = rolling_sharpe(frame[column].to_numpy(), window, periods_per_year)
        fig.add_trace(_line(frame.index, y, name=name))
    fig.update_layout(
        title=f"{title} ({window}-bar window)",
        yaxis_title="Sharpe (annualised)",
        hovermode="x unified",
    )
    return fig


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Month-by-month returns (fractions) as a year x month table (NaN where no data).

    Each month's return is its last equity over the previous month's last (the start for the
    first month) minus 1.
    """
    naive = equity.tz_convert("UTC").tz_localize(None) if equity.index.tz else equity
    month_end = naive.groupby(naive.index.to_period("M")).last()
    previous = month_end.shift(1)
    previous.iloc[0] = naive.iloc[0]
    returns = month_end / previous - 1.0
    table = pd.DataFrame(
        {"year": returns.index.year, "month": returns.index.month, "ret": returns.to_numpy()}
    )
    return table.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))


def monthly_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Heatmap of monthly returns (%), year by month."""
    table = monthly_returns(frame["equity"]) * 100.0
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = [[("" if np.isnan(v) else f"{v:.1f}") for v in row] for row in table.to_numpy()]
    limit = float(np.nanmax(np.abs(table.to_numpy()))) if np.isfinite(table.to_numpy()).any() else 1
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=months,
            y=[str(y) for y in table.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": "%"},
        )
    )
    fig.update_layout(title=title, yaxis={"type": "category", "autorange": "reversed"})
    return fig


def figures(
    frame: pd.DataFrame, trades: pd.DataFrame, periods_per_year: float, title: str
) -> dict[str, go.Figure]:
    """The report's figures by name (``PLOT_NAMES``), each titled ``title: what it shows``;
    the rolling Sharpe's window is 30 days of bars (at least 2, at most the whole period)."""
    window = max(2, min(len(frame) - 1, int(round(periods_per_year * 30 / 365))))
    out = {
        "equity": equity_figure(frame, f"{title}: equity vs buy and hold"),
        "drawdown": drawdown_figure(frame, f"{title}: drawdown"),
        "trades": trades_figure(frame, trades, f"{title}: price, trades and position"),
        "rolling_sharpe": rolling_sharpe_figure(
            frame, window, periods_per_year, f"{title}: rolling Sharpe (annualised)"
        ),
        "monthly_returns": monthly_figure(frame, f"{title}: monthly returns (%)"),
    }
    for name, fig in out.items():
        fig.update_layout(template="plotly_white")
        if name != "monthly_returns":
            fig.update_xaxes(type="date")  # x holds epoch milliseconds (_x)
    return out


def write_report(
    figs: dict[str, go.Figure],
    path: Path,
    title: str,
    lines: list[str],
    alert: str | None,
    extra_html: str = "",
) -> None:
    """One HTML page: ``title``, the ``alert`` in red (e.g. the in-sample warning), the
    ``lines``, then every figure, with plotly.js inline once (about 4.6 MB) and each figure's
    data after it, then ``extra_html``."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "<style>body{font-family:sans-serif;margin:1em 2em}"
        ".warn{color:#b00020;font-weight:bold}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        *([f'<p class="warn">{html.escape(alert)}</p>'] if alert else []),
        *(f"<p>{html.escape(line)}</p>" for line in lines),
    ]
    for name, fig in figs.items():
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{name}")
        parts.append(f'<section id="{name}">{body}</section>')
    parts.append(extra_html)  # e.g. the breakdowns (btcrl.backtest.breakdown)
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
