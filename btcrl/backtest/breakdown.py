"""Breakdowns of a result: performance by market regime, and the trades in one table.

Regimes are causal: the regime of a bar uses that bar's close and earlier ones only.
- trend: ``up`` when the close is at or above its mean over the last ``window`` bars, else
  ``down``;
- volatility: ``high`` when the standard deviation of the last ``window`` log returns is above
  its median so far (expanding, this bar included), else ``low``.
``window`` is 30 days of bars. Bars before a full window (the period's first 30 days: the
period's FeatureSet holds no bars before it) are ``warm-up``. A bar's return (close
to close, from the previous point) is counted in the regime known at the previous point, when
the position for it was chosen.

By HMM state (``features.hmm`` on): the state of a bar is the most probable one of the
*filtered* probabilities the agent observed at that bar (``obs_hmm_p<j>`` of the steps; they
read closes up to that bar only, ``btcrl.features.hmm``); state 0 is the calmest (lowest
return variance). The same counting rule applies: a bar's return goes to the state known when
its position was chosen.

Curves: the agent, buy-and-hold and, when the features carry its columns, the
trend_voltarget prior (``prior`` column of the frame), each with its own return and Sharpe
per regime.
"""

import numpy as np
import pandas as pd

REGIMES = ("up / high vol", "up / low vol", "down / high vol", "down / low vol")
WARM_UP = "warm-up"
DRAW_PCT = 1e-4  # |pnl_pct| below this (0.01 %) is a draw
HMM_PREFIX = "obs_hmm_p"  # the steps' columns of the filtered HMM state probabilities
PRIOR_CURVE = "prior"  # the frame's column of the prior's equity, when it ran


def regime_window(periods_per_year: float) -> int:
    """30 days of bars (at least 2)."""
    return max(2, int(round(periods_per_year * 30 / 365)))


def regime_labels(close: pd.Series, window: int) -> pd.Series:
    """The regime of each bar (``REGIMES`` or ``warm-up``), from ``close`` up to that bar."""
    log_ret = np.log(close).diff()
    mean = close.rolling(window, min_periods=window).mean()
    vol = log_ret.rolling(window, min_periods=window).std()
    median = vol.expanding().median()
    trend = np.where(close >= mean, "up", "down")
    level = np.where(vol > median, "high vol", "low vol")
    labels = pd.Series([f"{t} / {v}" for t, v in zip(trend, level, strict=True)], close.index)
    return labels.where(mean.notna() & vol.notna(), WARM_UP)


def regime_table(
    frame: pd.DataFrame, columns: dict[str, str], periods_per_year: float
) -> pd.DataFrame:
    """Per regime (``frame["regime"]`` when the caller labelled the bars with history before
    the period, else labels from ``frame["close"]``): ``bars``, share of the bars (fraction),
    and for each curve of ``columns``
    (display name -> equity column of ``frame``) its compounded return (fraction) and
    annualised Sharpe over the bars of that regime (NaN with fewer than 2)."""
    labels = (
        frame["regime"]
        if "regime" in frame
        else (regime_labels(frame["close"], regime_window(periods_per_year)))
    )
    return _grouped(frame, labels, (*REGIMES, WARM_UP), columns, periods_per_year, "regime")


def hmm_state_labels(steps: pd.DataFrame) -> np.ndarray | None:
    """The HMM state of each point of the equity frame (length ``len(steps) + 1``): ``state
    j`` for the argmax of the filtered probabilities step i observed (``obs_hmm_p<j>``),
    ``warm-up`` where they are not defined and for the last point (no step follows it); None
    when the steps carry no HMM columns (``features.hmm`` off)."""
    names = sorted((c for c in steps.columns if c.startswith(HMM_PREFIX)), key=_state_number)
    if not names:
        return None
    probs = steps[names].to_numpy(dtype=float)
    known = np.isfinite(probs).all(axis=1)
    best = np.argmax(np.where(np.isfinite(probs), probs, -np.inf), axis=1)
    labels = np.where(known, np.char.add("state ", best.astype(str)), WARM_UP)
    return np.append(labels.astype(object), WARM_UP)


def _state_number(column: str) -> int:
    return int(column.removeprefix(HMM_PREFIX))


def state_table(
    frame: pd.DataFrame, columns: dict[str, str], periods_per_year: float
) -> pd.DataFrame | None:
    """As :func:`regime_table`, per HMM state of ``frame["hmm_state"]`` (states in order,
    then ``warm-up``); None without that column."""
    if "hmm_state" not in frame:
        return None
    labels = frame["hmm_state"]
    states = sorted({s for s in labels if s != WARM_UP}, key=lambda s: int(s.split()[-1]))
    return _grouped(frame, labels, (*states, WARM_UP), columns, periods_per_year, "HMM state")


def curves_of(frame: pd.DataFrame, agent: str) -> dict[str, str]:
    """Display name -> equity column: ``agent``, buy and hold, and the prior when it ran."""
    curves = {agent: "equity", "buy and hold": "buy_and_hold"}
    if PRIOR_CURVE in frame:
        curves["prior trend_voltarget"] = PRIOR_CURVE
    return curves


def _grouped(
    frame: pd.DataFrame,
    labels: pd.Series,
    groups: tuple[str, ...],
    columns: dict[str, str],
    periods_per_year: float,
    key: str,
) -> pd.DataFrame:
    known = pd.Series(np.asarray(labels), frame.index).shift(1).iloc[1:]  # see the module doc
    rows = []
    for group in groups:
        mask = (known == group).to_numpy()
        row: dict[str, object] = {key: group, "bars": int(mask.sum())}
        row["share"] = float(mask.mean()) if len(mask) else float("nan")
        for name, column in columns.items():
            returns = frame[column].pct_change().iloc[1:].to_numpy()[mask]
            row[f"{name} return"] = float(np.prod(1.0 + returns) - 1.0) if mask.any() else np.nan
            std = returns.std(ddof=1) if returns.size > 1 else 0.0
            sharpe = returns.mean() / std * np.sqrt(periods_per_year) if std > 0 else np.nan
            row[f"{name} Sharpe"] = float(sharpe)
        rows.append(row)
    return pd.DataFrame(rows)


def trade_summary(trades: pd.DataFrame) -> pd.DataFrame:
    """One row per statistic of the closed trades (``trades.csv`` columns): count, wins,
    draws (|pnl| < 0.01 %), losses, exits by reason (signal, flip, stop, forced close), mean
    duration (bars), and the best and worst trade (pnl %, entry time, exit reason)."""
    closed = trades[~trades["open"].astype(bool)] if len(trades) else trades
    pct = closed["pnl_pct"].to_numpy(dtype=float) if len(closed) else np.array([])
    rows: list[tuple[str, str]] = [
        ("trades (closed)", f"{len(closed)}"),
        ("win / draw / loss", f"{(pct >= DRAW_PCT).sum()} / {(abs(pct) < DRAW_PCT).sum()} / "
         f"{(pct <= -DRAW_PCT).sum()}"),
    ]  # fmt: skip
    if len(closed):
        reasons = closed["exit_reason"].value_counts()
        rows.append(("exits", ", ".join(f"{k} {v}" for k, v in reasons.items())))
        rows.append(("mean duration (bars)", f"{closed['duration_bars'].mean():.1f}"))
        for label, i in (("best", int(np.argmax(pct))), ("worst", int(np.argmin(pct)))):
            t = closed.iloc[i]
            rows.append(
                (f"{label} trade", f"{t['pnl_pct']:+.2%} ({t['side']}, entered "
                 f"{pd.Timestamp(t['entry_time']):%Y-%m-%d %H:%M}, exit {t['exit_reason']})")
            )  # fmt: skip
    still_open = int(trades["open"].astype(bool).sum()) if len(trades) else 0
    rows.append(("open at the end", f"{still_open}"))
    return pd.DataFrame(rows, columns=["statistic", "value"])


def breakdown_html(
    regimes: pd.DataFrame, trades: pd.DataFrame, states: pd.DataFrame | None = None
) -> str:
    """The tables as HTML sections for a report (returns and shares in %): by market
    regime, by HMM state when ``states`` is given, and the trades."""
    by_state = (
        ""
        if states is None
        else '<section id="hmm_states"><h2>By HMM state (filtered probabilities, causal; state '
        "0 the calmest; Sharpe annualised)</h2>" + _shown(states) + "</section>"
    )
    return (
        '<section id="regimes"><h2>By market regime (causal: 30-day trend and volatility; '
        "Sharpe annualised)</h2>"
        + _shown(regimes)
        + "</section>"
        + by_state
        + '<section id="trade_table"><h2>Trades</h2>'
        + trades.to_html(index=False, header=False, border=0)
        + "</section>"
    )


def _shown(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column == "share" or column.endswith(" return"):
            shown[column] = shown[column].map(lambda v: "-" if v != v else f"{v:+.2%}")
        elif column.endswith(" Sharpe"):
            shown[column] = shown[column].map(lambda v: "-" if v != v else f"{v:.2f}")
    return shown.to_html(index=False, border=0)
