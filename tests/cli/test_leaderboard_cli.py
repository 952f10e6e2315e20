"""`btcrl runs`: the deciding columns of an experiment's runs, best first, in a real store."""

import csv
import io
import json

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from btcrl.cli import main
from btcrl.tracking import ensure_experiment, log_metrics, set_tags, start_run
from btcrl.tracking import tags as tag
from btcrl.tracking.leaderboard import SHARED_VIEW_PREFIX, VIEW_KEY, leaderboard

TRAIN = {
    "s1-ppo": {"val/sharpe": 0.4, "val/excess_sharpe": -0.2, "val/max_drawdown": -0.12},
    "s2-ppo": {"val/sharpe": 1.7, "val/excess_sharpe": 0.9, "val/max_drawdown": -0.08},
    "s3-sac": {"val/sharpe": -0.3, "val/excess_sharpe": -1.1, "val/max_drawdown": -0.3},
}


def _record(experiment: str, stage: str, name: str, metrics: dict[str, float], **tags: str) -> str:
    with start_run(experiment, stage, run_name=name, tags=tags) as run:
        log_metrics(
            {**metrics, "val/turnover": 3.0, "val/trades": 7.0} if stage == "train" else metrics
        )
        return str(run.info.run_id)


@pytest.fixture
def train_runs(tracking_uri: str) -> dict[str, str]:
    ids = {name: _record("btcrl-train", "train", name, m) for name, m in TRAIN.items()}
    with start_run("btcrl-train", "train", run_name="s4-crashed") as run:  # no validation yet
        set_tags({tag.ALGO: "ppo"})
        ids["s4-crashed"] = str(run.info.run_id)
    client = MlflowClient()
    client.create_registered_model("btcrl-ppo")
    client.create_model_version("btcrl-ppo", "file:///x", run_id=ids["s2-ppo"])
    return ids


def test_train_leaderboard_lists_deciding_columns_best_first(train_runs: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["runs", "--experiment", "btcrl-train"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[1]
    for column in ("Sharpe (ann.)", "xs Sharpe vs B&H", "max DD", "turnover", "trades", "model"):
        assert column in header
    assert "annualised" in lines[0]
    order = [next(n for n in train_runs if n in line) for line in lines[2:6]]
    assert order == ["s2-ppo", "s1-ppo", "s3-sac", "s4-crashed"]  # no Sharpe sorts last
    best = lines[2]
    assert "1.70" in best and "+0.90" not in best and "0.90" in best and "-8.00%" in best
    assert "btcrl-ppo/1" in best and "val" in best
    assert "viewStateShareKey=" in lines[-1]


def test_filter_csv_and_errors(train_runs: dict[str, str]) -> None:
    runner = CliRunner()
    sql = "metrics.`val/sharpe` > 0"
    result = runner.invoke(main, ["runs", "--filter", sql, "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["run_id"] for r in rows] == [train_runs["s2-ppo"], train_runs["s1-ppo"]]
    assert float(rows[0]["Sharpe (ann.)"]) == 1.7 and rows[0]["model"] == "btcrl-ppo/1"
    bad = runner.invoke(main, ["runs", "--filter", "metrics.sharpe >>> 1"])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
    assert bad.output.startswith("error: --filter 'metrics.sharpe >>> 1' was refused")
    missing = runner.invoke(main, ["runs", "--experiment", "btcrl-nope"])
    assert missing.exit_code == 1 and "no experiment 'btcrl-nope'" in missing.output
    assert "btcrl-train" in missing.output


def test_backtests_rank_by_their_period_with_in_sample_flag_and_model(tracking_uri: str) -> None:
    common = {"excess_return": 0.05, "max_drawdown": -0.1, "turnover": 2.0, "fills": 12.0}
    model = {tag.MODEL_NAME: "btcrl-sac", tag.MODEL_VERSION: "3"}
    _record(
        "btcrl-backtest",
        "backtest",
        "bt-in",
        {"sharpe": 2.5, **common},
        **{tag.IN_SAMPLE: "true"},
        **model,
    )
    _record(
        "btcrl-backtest",
        "backtest",
        "bt-out",
        {"sharpe": 0.8, **common},
        **{tag.IN_SAMPLE: "false"},
        **model,
    )
    board = leaderboard("btcrl-backtest")
    assert [r.name for r in board.rows] == ["bt-in", "bt-out"]
    assert [r.in_sample for r in board.rows] == ["true", "false"]
    assert board.rows[0].model == "btcrl-sac/3" and board.rows[0].basis == "backtest"
    assert "xs Sharpe vs B&H" not in board.headers and "xs return vs B&H" in board.headers
    out = CliRunner().invoke(main, ["runs", "--experiment", "btcrl-backtest"]).output
    assert "YES" in out.splitlines()[2] and "+5.00%" in out


def test_walkforward_parent_and_prior_columns(tracking_uri: str) -> None:
    _record("btcrl-walkforward", "walkforward", "wf", {
        "stitched/sharpe": 1.1, "stitched/total_return": 0.3, "buy_and_hold/total_return": 0.2,
        "stitched/max_drawdown": -0.2, "stats/dsr": 0.97,
    })  # fmt: skip
    _record("btcrl-walkforward", "train", "seg", {
        "oos/sharpe": 0.5, "val/sharpe": 3.0, "oos/excess_prior_sharpe": 0.25,
    })  # fmt: skip
    board = leaderboard("btcrl-walkforward")
    parent, child = board.rows
    assert parent.basis == "stitched oos" and parent.values["DSR"] == 0.97
    assert parent.values["xs return vs B&H"] == pytest.approx(0.1)
    assert child.basis == "oos" and child.score == 0.5  # out-of-sample, not its validation
    assert child.values["xs prior: excess_prior_sharpe"] == 0.25
    assert "xs prior: excess_prior_sharpe" in board.headers and "DSR" in board.headers


def test_the_ui_link_opens_a_saved_view_of_the_deciding_columns(
    train_runs: dict[str, str],
) -> None:
    experiment_id = ensure_experiment("btcrl-train")
    CliRunner().invoke(main, ["runs"])
    saved = MlflowClient().get_experiment(experiment_id).tags[SHARED_VIEW_PREFIX + VIEW_KEY]
    envelope = json.loads(saved)
    state = json.loads(envelope["state"])
    assert envelope["name"] and isinstance(envelope["createdAt"], int)
    assert state["orderByKey"] == "metrics.`val/sharpe`" and state["orderByAsc"] is False
    assert "metrics.`val/excess_sharpe`" in state["selectedColumns"]
    assert "metrics.`oos/sharpe`" not in state["selectedColumns"]  # only what was logged
    chosen = [c for c in state["selectedColumns"] if c.startswith("metrics.")]
    assert not [c for c in chosen if c.startswith(("metrics.`best/", "metrics.`train_span/"))]
