"""What a backtest tells its user: entry markers at each entry fill's own price, where the
report is, an --end past the store's last bar, and a period past the store."""

import logging
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.backtest.plots import entry_fills, trades_figure
from btcrl.cli import main


def test_scale_in_entries_are_marked_at_their_own_fill_prices() -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
    frame = pd.DataFrame(
        {
            "close": [100.0, 110.0, 200.0, 190.0, 150.0],
            "fill_qty": [1.0, 0.0, 1.0, -2.0, -0.5],  # buy, add, sell all, open a short
            "fill_price": [100.0, 0.0, 200.0, 190.0, 150.0],
            "position": [1.0, 1.0, 2.0, 0.0, -0.5],
        },
        index=index,
    )
    trades = pd.DataFrame(
        {
            "trade": [0], "side": ["long"], "entry_time": [index[0]], "exit_time": [index[3]],
            "entry_price": [150.0], "exit_price": [190.0], "pnl_usd": [80.0],
            "pnl_pct": [0.27], "exit_reason": ["signal"], "open": [False],
        }
    )  # fmt: skip
    fills = entry_fills(frame)
    assert list(fills["price"]) == [100.0, 200.0, 150.0]  # never the long's 150 average
    assert list(fills["side"]) == ["long", "long", "short"]
    traces = {t.name: t for t in trades_figure(frame, trades, "t").data}
    assert list(traces["long entry"].y) == [100.0, 200.0]
    assert list(traces["short entry"].y) == [150.0]
    assert list(traces["exit"].y) == [190.0]


def _backtest(home: Path, *period: str) -> list[str]:
    return [
        "backtest", "--policy", "buy_and_hold", "--source", "sample", *period,
        "--data-dir", str(home / "data"),
        "--set", f"tracking.uri=sqlite:///{home / 'mlruns' / 'mlflow.db'}",
    ]  # fmt: skip


@pytest.mark.slow  # a whole backtest with its report (about 20 s on a shared machine)
def test_end_past_the_store_warns_and_the_report_path_is_printed(
    bt_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            main, _backtest(bt_home, "--start", "2025-03-01", "--end", "2025-06-30")
        )
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records if "past the store" in r.getMessage()]
    assert said == [
        "backtest end 2025-06-30 is past the store's last BTC/USDT 1h bar, "
        "2025-03-31 17:00 UTC: the period ends there"
    ]
    report = Path(result.output.strip().splitlines()[-1].removeprefix("report: "))
    assert report.name == "report.html" and report.is_file()
    page = report.read_text(encoding="utf-8")
    assert "Plotly" in page[:5_000_000]
    assert '"name":"long entry"' in page  # buy and hold's one entry fill, at its own price


def test_a_period_past_the_store_says_what_it_holds(bt_home: Path) -> None:
    args = _backtest(bt_home, "--start", "2025-06-01", "--end", "2025-06-30")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: backtest period 2025-06-01")
    assert "past the store: it holds BTC/USDT 1h 2022-01-01 00:00..2025-03-31 17:00" in lines[0]
