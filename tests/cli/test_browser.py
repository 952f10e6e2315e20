"""In a real browser: headless Chromium (Debian's ``chromium``) against a real ``mlflow
server`` on 127.0.0.1 opens the train experiment through the link ``btcrl runs`` prints and
finds the deciding columns, sorted; and opens a backtest's report.html with the network
cut off and finds every plot drawn.

Install the browser with ``apt-get install chromium``; without it these tests skip."""

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.tracking import log_metrics, start_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,  # a server, a browser and a backtest: about a minute
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1600,900",
)


def dump_dom(url: str, profile: Path, budget_ms: int, offline: bool = False) -> str:
    """The page's DOM after ``budget_ms`` of (virtual) time, in a fresh profile."""
    args = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}"]
    if offline:
        args.append("--host-resolver-rules=MAP * ~NOTFOUND")  # no host resolves
    args += [f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=True)
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(tracking_uri: str) -> Iterator[str]:
    """``mlflow server`` on the test's store, on a free port of 127.0.0.1."""
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    args = [str(mlflow_bin), "server", "--backend-store-uri", tracking_uri]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _train_run(name: str, sharpe: float) -> None:
    with start_run("btcrl-train", "train", run_name=name):
        log_metrics({
            "val/sharpe": sharpe, "val/excess_sharpe": sharpe - 1.0, "val/max_drawdown": -0.1,
            "val/turnover": 2.0, "val/trades": 5.0, "train/value_loss": 0.3,
        })  # fmt: skip


def test_the_printed_link_opens_the_deciding_columns_sorted(
    mlflow_server: str, tmp_path: Path
) -> None:
    for name, sharpe in (("s1-ppo", 0.2), ("s2-ppo", 1.4)):
        _train_run(name, sharpe)
    printed = CliRunner().invoke(main, ["runs", "--experiment", "btcrl-train"]).output
    link = re.search(r"http://127\.0\.0\.1:5000(/#/experiments/\S+)", printed)
    assert link is not None, printed
    dom = dump_dom(mlflow_server + link[1], tmp_path / "profile", budget_ms=30_000)
    for column in ("val/sharpe", "val/excess_sharpe", "val/max_drawdown", "val/turnover"):
        assert column in dom, column  # MLflow 3.18 shows no metric column by default
    assert "train/value_loss" not in dom  # the deciding columns, not all of them
    assert "Sort: val/sharpe" in dom
    assert dom.index("s2-ppo") < dom.index("s1-ppo")  # best first


def test_a_backtest_report_draws_every_plot_offline(tracking_uri: str, tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = [
        "backtest", "--policy", "buy_and_hold", "--source", "sample",
        "--start", "2025-01-01", "--end", "2025-03-31", "--data-dir", str(tmp_path / "data"),
        "--output-dir", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert f"report: {report}" in result.output
    dom = dump_dom(report.as_uri(), tmp_path / "profile", budget_ms=10_000, offline=True)
    sections = re.findall(r'<section id="(\w+)"(.*?)</section>', dom, flags=re.S)
    assert [name for name, _ in sections] == [
        "equity", "drawdown", "trades", "rolling_sharpe", "monthly_returns", "regimes",
        "trade_table",
    ]  # fmt: skip
    for name, body in sections[:5]:  # a plot that did not draw has no svg, trace or heatmap
        assert 'class="main-svg"' in body and re.search(r'class="([^"]*trace|hm)', body), name
    regimes = dict(sections)["regimes"]
    assert "up / high vol" in regimes and "buy and hold Sharpe" in regimes
    assert "win / draw / loss" in dict(sections)["trade_table"]
    assert {"regimes.csv", "trade_summary.csv"} <= {p.name for p in out.iterdir()}
