"""report.html: every figure in one page, plotly.js once, long backtests thinned to size."""

from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.backtest.plots import MAX_POINTS, PLOT_NAMES, equity_frame, figures, thin, write_report


def test_thin_keeps_ends_and_extremes() -> None:
    assert thin(np.arange(10.0)).tolist() == list(range(10))
    y = np.sin(np.arange(100_000) / 500.0)
    y[12_345] = 5.0  # a spike and a crash inside one bucket each
    y[77_777] = -5.0
    keep = thin(y)
    assert len(keep) <= MAX_POINTS + 2 and (np.diff(keep) > 0).all()
    assert {0, 99_999, 12_345, 77_777} <= set(keep.tolist())
    with_nan = np.concatenate([np.full(50_000, np.nan), y[:50_000]])
    assert 12_345 + 50_000 in set(thin(with_nan).tolist())


def test_long_backtest_report_is_one_small_page(tmp_path: Path) -> None:
    n = 62_000  # seven years of 1h bars
    rng = np.random.default_rng(0)
    times = pd.date_range("2018-03-01", periods=n, freq="1h", tz="UTC", name="time")
    close = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    position = np.repeat(rng.choice([-0.5, 0.0, 0.5], n // 100 + 1), 100)[:n]
    frame = equity_frame(times, equity, close, close, position)
    trades = pd.DataFrame(
        columns=["trade", "side", "pnl_usd", "pnl_pct", "exit_reason", "open"]
        + ["entry_time", "exit_time", "entry_price", "exit_price"]
    )
    figs = figures(frame, trades, 8760.0, "ppo v1 [IN-SAMPLE]")
    assert list(figs) == list(PLOT_NAMES)
    path = tmp_path / "report.html"
    write_report(figs, path, "Backtest ppo v1", ["round trips 3"], "IN-SAMPLE: overlaps")
    html = path.read_text()
    assert html.count("plotly.js v") == 1 and html.count("Plotly.newPlot(") == 5
    assert html.count("[IN-SAMPLE]: ") == 5 and '<p class="warn">IN-SAMPLE: overlaps</p>' in html
    assert path.stat().st_size < 6_000_000
