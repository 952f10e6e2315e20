"""run_backtest and `btcrl backtest` end to end: rule baselines, models, bad inputs."""

import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.backtest import run_backtest
from btcrl.cli import main
from btcrl.config import load_config

from .conftest import bt_overrides

PERIOD = ["--start", "2024-10-01", "--end", "2024-10-31"]


def _cli(home: Path, *args: str):
    sets = [part for item in bt_overrides(home) for part in ("--set", item)]
    return CliRunner().invoke(main, ["backtest", *sets, *args], catch_exceptions=False)


def _runs(home: Path) -> list:
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    experiment = mlflow.get_experiment_by_name("btcrl-backtest")
    if experiment is None:
        return []
    return mlflow.search_runs([experiment.experiment_id], output_format="list")


def test_buy_and_hold_run_logs_everything(bt_home: Path) -> None:
    result = _cli(bt_home, "--policy", "buy_and_hold", *PERIOD)
    assert result.exit_code == 0, result.output
    run_id = result.output.split("run id: ")[1].split()[0]
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["btcrl.stage"] == "backtest"
    assert tags["btcrl.policy"] == "buy_and_hold"
    assert tags["btcrl.in_sample"] == "false"
    assert tags["btcrl.algo"] == "rule" and tags["btcrl.rule"] == "buy_and_hold"
    assert len(tags["btcrl.data_hash"]) == 16
    params = run.data.params
    assert "agent.algo" not in params and params["backtest.policy"] == "buy_and_hold"
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id))
    names = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    expected = {
        "steps.csv",
        "trades.csv",
        "summary.json",
        "metrics.json",
        "config.yaml",
        "feature_spec.json",
        "report.html",
        "regimes.csv",  # the report's breakdowns (btcrl.backtest.breakdown)
        "trade_summary.csv",
    }
    assert names == expected
    # one report: plotly.js inline exactly once, every figure in it, under 6 MB
    html = (local / "report.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert html.count("plotly.js v") == 1 and html.count("Plotly.newPlot(") == 5
    assert 3_000_000 < len(html.encode()) < 6_000_000
    assert "IN-SAMPLE" not in html
    metrics = json.loads((local / "metrics.json").read_text())
    groups = {"run", "performance", "risk", "activity", "trades", "reward", "data_quality"}
    assert groups <= set(metrics)
    # one round trip of two fills (buy at the first open, forced close at the last close)
    activity = metrics["activity"]["strategy"]
    assert activity["fills"] == 2 and activity["round_trips"] == 1
    assert activity["open_round_trips"] == 0 and activity["fills_per_round_trip"] == 2
    fees = metrics["results"]["strategy"]["fees"]
    assert activity["fees"] == pytest.approx(fees) and fees > 0
    assert activity["fees_pct"] == pytest.approx(fees / 10_000.0)
    assert run.data.metrics["round_trips"] == 1 and run.data.metrics["fills"] == 2
    assert activity["turnover"] == metrics["risk"]["strategy"]["turnover"]
    assert "round trips 1  fills 2  turnover" in result.output
    perf = metrics["performance"]
    assert perf["strategy"] == perf["buy_and_hold"]
    assert perf["excess"]["excess_return"] == 0.0
    # total return = C / O (1 - s)(1 - f) - (1 + s)(1 + f): bought at the first open, sold at
    # the last close (forced close on), fee f = 0.001 and slippage s = 2 bps by default
    steps = pd.read_csv(local / "steps.csv")
    o, c, f, s = steps["open"].iloc[0], steps["close"].iloc[-1], 0.001, 2e-4
    expected_return = c / o * (1 - s) * (1 - f) - (1 + s) * (1 + f)
    assert perf["strategy"]["total_return"] == pytest.approx(expected_return, rel=1e-9)
    assert run.data.metrics["total_return"] == pytest.approx(expected_return, rel=1e-9)
    # before costs: the same BTC bought at O and sold at C without fee or slippage
    results = metrics["results"]["strategy"]
    assert results["return_before_costs"] == pytest.approx(c / o - 1, rel=1e-9)
    assert results["costs"] == pytest.approx(
        results["fees"] + results["slippage_cost"] + results["borrow_cost"]
    )
    assert run.data.metrics["return_before_costs"] == pytest.approx(c / o - 1, rel=1e-9)
    assert {"borrow_cost", "target_exposure", "vol_scale"} <= set(steps.columns)
    assert "return before costs" in result.output
    trades = pd.read_csv(local / "trades.csv")
    assert len(trades) == 1 and bool(trades["forced_close"].iloc[0])
    # reading the run back is enough to reproduce it
    config = load_config(local / "config.yaml")
    again = run_backtest(
        config.model_copy(
            update={"tracking": config.tracking.model_copy(update={"enabled": False})}
        )
    )
    assert again.headline["total_return"] == run.data.metrics["total_return"]


def test_flat_and_strategy_baselines(bt_home: Path, tmp_path: Path) -> None:
    config = load_config(
        None,
        [
            *bt_overrides(bt_home),
            "tracking.enabled=false",
            "data.start=2024-10-01",
            "data.end=2024-10-31",
            "backtest.plots=false",
            f"backtest.output_dir={tmp_path / 'o'}",
        ],
    )
    flat = run_backtest(config, policy="flat")
    assert flat.headline["total_return"] == 0.0 and flat.headline["round_trips"] == 0
    assert flat.headline["fills"] == 0 and flat.headline["turnover"] == 0.0
    assert flat.metrics["performance"]["strategy"]["sharpe"] == 0.0
    assert flat.run_id is None and (tmp_path / "o" / "metrics.json").is_file()
    rule = run_backtest(config, policy="strategy:supertrend")
    assert rule.headline["round_trips"] > 0
    flips = int((rule.trades["exit_reason"] == "flip").sum())
    assert flips > 0 and rule.headline["fills"] > rule.headline["round_trips"]
    # every fill belongs to one trade row, a flip to two
    assert int(rule.trades["fills"].sum()) == rule.headline["fills"] + flips
    assert (
        len(rule.trades)
        == rule.headline["round_trips"] + rule.metrics["activity"]["strategy"]["open_round_trips"]
    )
    a_pos = rule.steps["a_pos"]
    assert set(a_pos.unique()) <= {-1.0, 0.0, 1.0}
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["policy"] == "strategy:supertrend"  # the newer result replaced the older


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "models:/no-such-model@champion", *PERIOD], "no-such-model"),
        (["--model", "/no/such/dir", *PERIOD], "/no/such/dir"),
        (["--policy", "flat", "--start", "2024-10-31", "--end", "2024-10-01"], "before"),
        (["--policy", "flat", "--start", "2021-01-01", "--end", "2021-01-31"], "2021-01-31"),
        (["--policy", "sometimes", *PERIOD], "sometimes"),
        (["--policy", "flat", "--model", "runs:/abc/model", *PERIOD], "not both"),
        ([*PERIOD], "nothing to backtest"),
    ],
)
def test_bad_inputs_fail_in_one_line(
    bt_home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    before = len(_runs(bt_home))
    out = tmp_path / "result"
    result = _cli(bt_home, *args, "--output-dir", str(out))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert len(_runs(bt_home)) == before  # no run was logged
    assert not out.exists()  # and no half-written result


def test_rules_trade_unlevered(bt_home: Path) -> None:
    config = load_config(
        None,
        [
            *bt_overrides(bt_home),
            "tracking.enabled=false",
            "data.start=2024-10-01",
            "data.end=2024-10-31",
            "backtest.plots=false",
            "env.leverage_limit=3",
        ],
    )
    result = run_backtest(config, policy="buy_and_hold")
    risk = result.metrics["risk"]
    # 1x equity: exposure stays near 1 (it drifts only by the costs paid), never near 3
    assert risk["strategy"]["max_exposure"] == pytest.approx(1.0, abs=0.01)
    assert risk["buy_and_hold"] == risk["strategy"]
