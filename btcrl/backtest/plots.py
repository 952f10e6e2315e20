"""Backtest plots as self-contained plotly HTML (plotly.js inline: they render offline in the
MLflow UI), plus PNG copies when kaleido and a Chrome are available.

Every figure takes the equity frame of :func:`equity_frame`: one row per point (the start
and every step), columns ``equity``, ``buy_and_hold`` (USD), ``close`` (USD), ``position``
(BTC), indexed by bar open time (UTC).
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

log = logging.getLogger(__name__)

PLOT_NAMES = ("equity", "drawdown", "trades", "rolling_sharpe", "monthly_returns")


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
    """Times as naive UTC datetime64 (plotly copies those as one block, not 60k objects)."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy(dtype="datetime64[ns]")


def equity_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Strategy equity against buy-and-hold, with a linear / log y-axis toggle."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=_x(frame.index), y=frame["equity"], name="strategy", mode="lines"))
    fig.add_trace(
        go.Scatter(x=_x(frame.index), y=frame["buy_and_hold"], name="buy and hold", mode="lines")
    )
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
        fig.add_trace(go.Scatter(x=_x(frame.index), y=dd, name=name, mode="lines", fill="tozeroy"))
    fig.update_layout(title=title, yaxis_title="drawdown (%)", hovermode="x unified")
    return fig


def trades_figure(frame: pd.DataFrame, trades: pd.DataFrame, title: str) -> go.Figure:
    """Close price with entry / exit markers, and the position (BTC) underneath."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
    fig.add_trace(
        go.Scatter(x=_x(frame.index), y=frame["close"], name="close", mode="lines"), row=1, col=1
    )
    if len(trades):
        markers = (
            ("long entry", trades["side"] == "long", "entry", "triangle-up", "green"),
            ("short entry", trades["side"] == "short", "entry", "triangle-down", "red"),
            ("exit", ~trades["open"].astype(bool), "exit", "x", "black"),
        )
        for name, mask, end, symbol, color in markers:
            chosen = trades[mask]
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
            fig.add_trace(
                go.Scatter(
                    x=_x(chosen[f"{end}_time"]),
                    y=chosen[f"{end}_price"],
                    name=name,
                    mode="markers",
                    text=text,
                    marker={"symbol": symbol, "color": color, "size": 8},
                ),
                row=1,
                col=1,
            )
    fig.add_trace(
        go.Scatter(
            x=_x(frame.index),
            y=frame["position"],
            name="position (BTC)",
            mode="lines",
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
        fig.add_trace(go.Scatter(x=_x(frame.index), y=y, name=name, mode="lines"))
    fig.update_layout(
        title=f"{title} ({window}-bar window)", yaxis_title="Sharpe", hovermode="x unified"
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


def write_plots(
    frame: pd.DataFrame,
    trades: pd.DataFrame,
    out_dir: Path,
    periods_per_year: float,
    label: str,
    png: bool = True,
) -> list[str]:
    """Write the five plots as ``<name>.html`` (and ``.png`` if possible) into ``out_dir``.

    Returns notes (e.g. why there are no PNGs); never raises for a missing PNG renderer.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    window = max(2, min(len(frame) - 1, int(round(periods_per_year * 30 / 365))))
    figures = {
        "equity": equity_figure(frame, f"{label}: equity vs buy and hold"),
        "drawdown": drawdown_figure(frame, f"{label}: drawdown"),
        "trades": trades_figure(frame, trades, f"{label}: price, trades and position"),
        "rolling_sharpe": rolling_sharpe_figure(
            frame, window, periods_per_year, f"{label}: rolling Sharpe"
        ),
        "monthly_returns": monthly_figure(frame, f"{label}: monthly returns (%)"),
    }
    for name, fig in figures.items():
        fig.update_layout(template="plotly_white")
        fig.write_html(out_dir / f"{name}.html", include_plotlyjs=True, full_html=True)
    notes: list[str] = []
    if png:
        notes.extend(_write_pngs(figures, out_dir))
    return notes


def _write_pngs(figures: dict[str, go.Figure], out_dir: Path) -> list[str]:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return ["no PNG copies: kaleido is not installed (pip install kaleido)"]
    for name, fig in figures.items():
        try:
            fig.write_image(out_dir / f"{name}.png", width=1200, height=600)
        except Exception as exc:  # kaleido without Chrome, or a renderer failure
            for stale in out_dir.glob("*.png"):
                stale.unlink()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return [f"no PNG copies: kaleido could not render ({first})"]
    return []
