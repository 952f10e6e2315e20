"""Performance, trade and behaviour metrics: pure functions over numpy arrays.

Conventions (chosen to agree with quantstats 0.0.x to 1e-9, which the tests check):

- ``equity`` is the marked-to-market account value in quote currency, one point per bar
  *including the starting value*; the per-bar simple returns are
  ``r[i] = equity[i + 1] / equity[i] - 1`` (``n = len(equity) - 1`` returns).
- Annualisation is explicit: ``periods_per_year`` bars a year (8760 for 1h bars; crypto trades
  365 x 24, see ``btcrl.data.timeframes.periods_per_year``).
- The annual risk-free rate ``rf`` is de-annualised per bar geometrically:
  ``rf_bar = (1 + rf) ** (1 / periods_per_year) - 1``; Sharpe and Sortino use the excess
  returns ``r - rf_bar``. (quantstats skips the adjustment for a negative rf; we apply it.)
- ``annual_volatility = std(r, ddof=1) * sqrt(periods_per_year)`` (raw returns, no rf).
- ``sharpe = mean(x) / std(x, ddof=1) * sqrt(periods_per_year)`` with ``x`` the excess returns
  (:func:`sharpe_annualised`; :func:`sharpe_per_bar` is the same ratio per bar, no rf).
- ``sortino = mean(x) / dd * sqrt(periods_per_year)`` with the downside deviation
  ``dd = sqrt(sum(x[x < 0] ** 2) / n)`` (Red Rock Capital; divided by *all* n returns, target 0).
- ``cagr = (equity[-1] / equity[0]) ** (periods_per_year / n) - 1``: a year is
  ``periods_per_year`` bars, counted by returns (not calendar days); rf is not subtracted.
- ``max_drawdown = min(equity / cummax(equity)) - 1`` (<= 0, fraction), the start included as
  the first peak; ``calmar = cagr / |max_drawdown|``.
- ``max_drawdown_duration``: the longest run of consecutive bars whose equity is below the
  running peak (bars "under water"; 0 if the curve never falls below a previous peak).

Degenerate denominators are not NaN: a zero numerator over a zero denominator is 0.0 (a flat
book has Sharpe 0), a non-zero one is +/-inf. Empty or too-short input raises ValueError.
Writers turn non-finite values into JSON null.
"""

import math

import numpy as np

from btcrl.metrics.trades import turnover as trade_turnover

PERFORMANCE_KEYS = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
)


def _as_equity(equity: np.ndarray) -> np.ndarray:
    values = np.asarray(equity, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"equity must be one-dimensional, got shape {values.shape}")
    if values.size < 2:
        raise ValueError(f"equity needs at least 2 points, got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"equity holds {int((~np.isfinite(values)).sum())} non-finite values")
    if values[0] <= 0:
        raise ValueError(f"equity must start positive, starts at {values[0]}")
    return values


def _check_periods(periods_per_year: float) -> None:
    if not (periods_per_year > 0 and math.isfinite(periods_per_year)):
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator with 0/0 -> 0.0 and x/0 -> +/-inf (never NaN)."""
    if denominator == 0 or not math.isfinite(denominator):
        if numerator == 0 or not math.isfinite(denominator):
            return 0.0
        return math.copysign(math.inf, numerator)
    return numerator / denominator


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """Per-bar simple returns ``equity[1:] / equity[:-1] - 1`` (fractions), length n - 1.

    A bar after the equity reached zero or below has return -1 (nothing left to lose).
    """
    values = _as_equity(equity)
    prev = values[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(prev > 0, values[1:] / np.where(prev > 0, prev, 1.0) - 1.0, -1.0)
    return out


def per_bar_rate(annual_rate: float, periods_per_year: float) -> float:
    """Annual rate (fraction) -> the per-bar rate that compounds to it."""
    _check_periods(periods_per_year)
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """Drawdown per point, ``equity / running peak - 1`` (<= 0, fraction), same length."""
    values = _as_equity(equity)
    peak = np.maximum.accumulate(values)
    return values / peak - 1.0


def max_drawdown(equity: np.ndarray) -> float:
    """Deepest drawdown (<= 0, fraction); 0.0 for a curve that never falls."""
    return float(min(0.0, drawdown_series(equity).min()))


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest run of consecutive bars below the running peak, in bars."""
    under = drawdown_series(equity) < 0
    if not under.any():
        return 0
    # lengths of runs of True
    padded = np.concatenate([[False], under, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[0::2]).max())


def annual_volatility(returns: np.ndarray, periods_per_year: float) -> float:
    """Sample standard deviation (ddof=1) of per-bar returns x sqrt(periods_per_year)."""
    _check_periods(periods_per_year)
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        raise ValueError(f"volatility needs at least 2 returns, got {r.size}")
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe_per_bar(returns: np.ndarray) -> float | np.ndarray:
    """Per-bar Sharpe ratio ``mean(r) / std(r, ddof=1)`` of simple returns (fractions), NOT
    annualised and with no risk-free rate: the one implementation every per-bar Sharpe in
    btcrl uses (PSR/DSR, model selection, PBO, the promotion gate).

    A one-dimensional series gives a float; a (rows, N) matrix gives one value per column.
    A series with no spread (up to rounding) scores 0 when its mean is 0 (a flat book) and
    +/-inf otherwise. Raises ValueError for fewer than 2 returns or non-finite values.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim not in (1, 2):
        raise ValueError(f"returns must be a series or a (rows, N) matrix, got shape {r.shape}")
    if r.shape[0] < 2:
        raise ValueError(f"a Sharpe ratio needs at least 2 returns, got {r.shape[0]}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"returns hold {int((~np.isfinite(r)).sum())} non-finite values")
    mean = r.mean(axis=0)
    std = np.std(r, axis=0, ddof=1)
    # a constant series: a tiny std from rounding is still zero
    flat = std <= 1e-14 * np.maximum(1.0, np.abs(r).max(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(flat, np.where(mean == 0.0, 0.0, np.copysign(np.inf, mean)), mean / std)
    return float(ratio) if r.ndim == 1 else ratio


def sharpe_annualised(
    returns: np.ndarray, periods_per_year: float, risk_free_rate: float = 0.0
) -> float:
    """Annualised Sharpe ratio: :func:`sharpe_per_bar` of the per-bar returns over the
    de-annualised risk-free rate (``rf`` a fraction a year), times ``sqrt(periods_per_year)``."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        raise ValueError(f"Sharpe needs at least 2 returns, got {r.size}")
    excess = r - per_bar_rate(risk_free_rate, periods_per_year)
    return float(sharpe_per_bar(excess)) * math.sqrt(periods_per_year)


def sortino_ratio(
    returns: np.ndarray, periods_per_year: float, risk_free_rate: float = 0.0
) -> float:
    """Annualised Sortino ratio; downside deviation ``sqrt(sum(min(x, 0)^2) / n)``."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 1:
        raise ValueError("Sortino needs at least 1 return, got 0")
    excess = r - per_bar_rate(risk_free_rate, periods_per_year)
    negative = excess[excess < 0]
    downside = math.sqrt(float(np.sum(negative**2)) / excess.size)
    return _ratio(float(excess.mean()), downside) * math.sqrt(periods_per_year)


def cagr(equity: np.ndarray, periods_per_year: float) -> float:
    """Compound annual growth rate (fraction); a year is ``periods_per_year`` bars.

    -1.0 when the final equity is zero or below (everything lost).
    """
    values = _as_equity(equity)
    _check_periods(periods_per_year)
    growth = values[-1] / values[0]
    if growth <= 0:
        return -1.0
    years = (values.size - 1) / periods_per_year
    return float(growth ** (1.0 / years) - 1.0)


def performance_metrics(
    equity: np.ndarray, periods_per_year: float, risk_free_rate: float = 0.0
) -> dict[str, float]:
    """The performance group of an equity curve (see the module docstring for conventions).

    Keys: ``total_return`` (fraction), ``cagr`` (fraction a year), ``annual_volatility``
    (fraction), ``sharpe``, ``sortino``, ``calmar`` (ratios), ``max_drawdown`` (<= 0, fraction),
    ``max_drawdown_duration`` (bars). Raises ValueError for fewer than 3 points (volatility
    needs two returns) or a non-finite or non-positive start.
    """
    values = _as_equity(equity)
    _check_periods(periods_per_year)
    if values.size < 3:
        raise ValueError(f"performance metrics need at least 3 equity points, got {values.size}")
    returns = simple_returns(values)
    growth = cagr(values, periods_per_year)
    drawdown = max_drawdown(values)
    return {
        "total_return": float(values[-1] / values[0] - 1.0),
        "cagr": growth,
        "annual_volatility": annual_volatility(returns, periods_per_year),
        "sharpe": sharpe_annualised(returns, periods_per_year, risk_free_rate),
        "sortino": sortino_ratio(returns, periods_per_year, risk_free_rate),
        "calmar": _ratio(growth, abs(drawdown)),
        "max_drawdown": drawdown,
        "max_drawdown_duration": float(max_drawdown_duration(values)),
    }


def trade_metrics(
    pnl_usd: np.ndarray, pnl_pct: np.ndarray, duration_bars: np.ndarray
) -> dict[str, float]:
    """The trades group over closed trades (net of fees): one entry per trade.

    ``pnl_usd`` in quote currency, ``pnl_pct`` as fractions of the entry notional,
    ``duration_bars`` in bars. Keys: ``trade_count``, ``win_rate`` (fraction of trades with
    pnl > 0), ``profit_factor`` (gross win / gross loss; inf without losses), ``expectancy``
    (mean USD pnl per trade), ``avg_pnl``, ``median_pnl`` (USD), ``avg_pnl_pct``,
    ``avg_win``, ``avg_loss`` (USD; loss <= 0), ``largest_win``, ``largest_loss`` (USD),
    ``avg_duration`` (bars). Without trades ``trade_count`` is 0 and the rest NaN (written as
    null): they are undefined, not zero.
    """
    pnl = np.asarray(pnl_usd, dtype=np.float64)
    pct = np.asarray(pnl_pct, dtype=np.float64)
    dur = np.asarray(duration_bars, dtype=np.float64)
    if not (pnl.shape == pct.shape == dur.shape) or pnl.ndim != 1:
        raise ValueError(
            f"trade arrays must be 1-D of one length, got {pnl.shape}, {pct.shape}, {dur.shape}"
        )
    keys = [
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_pnl",
        "median_pnl",
        "avg_pnl_pct",
        "avg_win",
        "avg_loss",
        "largest_win",
        "largest_loss",
        "avg_duration",
    ]
    if pnl.size == 0:
        return {"trade_count": 0.0, **{k: math.nan for k in keys}}
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = float(wins.sum()), float(-losses.sum())
    return {
        "trade_count": float(pnl.size),
        "win_rate": float(wins.size / pnl.size),
        "profit_factor": _ratio(gross_win, gross_loss),
        "expectancy": float(pnl.mean()),
        "avg_pnl": float(pnl.mean()),
        "median_pnl": float(np.median(pnl)),
        "avg_pnl_pct": float(pct.mean()),
        "avg_win": float(wins.mean()) if wins.size else 0.0,
        "avg_loss": float(losses.mean()) if losses.size else 0.0,
        "largest_win": float(max(0.0, pnl.max())),
        "largest_loss": float(min(0.0, pnl.min())),
        "avg_duration": float(dur.mean()),
    }


def behaviour_metrics(
    position_btc: np.ndarray,
    close: np.ndarray,
    equity: np.ndarray,
    traded_notional: np.ndarray,
    stop_hits: np.ndarray,
    periods_per_year: float,
) -> dict[str, float]:
    """The risk and behaviour group over the bars of an episode (one entry per bar).

    ``position_btc`` (signed, base units) and ``equity`` (quote) after each bar, ``close`` the
    bar's close, ``traded_notional`` the |USD| filled in the bar (orders and stops),
    ``stop_hits`` 1 where a stop filled. Keys: ``time_in_market`` (fraction of bars with a
    position), ``avg_exposure``, ``max_exposure`` (|position x close| / equity, fraction),
    ``avg_net_exposure`` (signed), ``turnover`` (traded notional / mean equity, times over the
    period), ``annual_turnover`` (the same per year), ``stop_loss_count``.
    """
    _check_periods(periods_per_year)
    pos = np.asarray(position_btc, dtype=np.float64)
    px = np.asarray(close, dtype=np.float64)
    eq = np.asarray(equity, dtype=np.float64)
    notional = np.asarray(traded_notional, dtype=np.float64)
    stops = np.asarray(stop_hits, dtype=np.float64)
    n = pos.size
    if n == 0:
        raise ValueError("behaviour metrics need at least 1 bar, got 0")
    if not (px.size == eq.size == notional.size == stops.size == n):
        raise ValueError("behaviour arrays must all have one entry per bar")
    safe_eq = np.where(eq > 0, eq, np.nan)
    net = pos * px / safe_eq
    net = np.where(np.isfinite(net), net, 0.0)
    gross = np.abs(net)
    turnover = trade_turnover(notional, eq)
    return {
        "time_in_market": float(np.mean(pos != 0)),
        "avg_exposure": float(gross.mean()),
        "max_exposure": float(gross.max()),
        "avg_net_exposure": float(net.mean()),
        "turnover": turnover,
        "annual_turnover": turnover * periods_per_year / n,
        "stop_loss_count": float(stops.sum()),
    }
