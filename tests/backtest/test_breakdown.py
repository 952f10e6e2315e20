"""Breakdowns: causal regimes whose returns compound to the whole, and the trade table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.backtest.breakdown import (
    REGIMES,
    WARM_UP,
    curves_of,
    hmm_state_labels,
    regime_labels,
    regime_table,
    state_table,
    trade_summary,
)
from btcrl.cli import main
from btcrl.data.sample import load_sample

from .conftest import bt_overrides


def _frame() -> pd.DataFrame:
    close = load_sample()["close"].loc["2024-06-01":"2024-09-30"]
    rng = np.random.default_rng(0)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.002, len(close)))
    bh = 10_000 * close.to_numpy() / close.iloc[0]
    return pd.DataFrame({"equity": equity, "buy_and_hold": bh, "close": close.to_numpy()},
                        index=close.index)  # fmt: skip


def test_regimes_never_look_ahead() -> None:
    close = _frame()["close"]
    full = regime_labels(close, 720)
    for t in (800, 1500, len(close) - 1):
        assert regime_labels(close.iloc[:t], 720).equals(full.iloc[:t])
    assert set(full) <= {*REGIMES, WARM_UP} and (full.iloc[:719] == WARM_UP).all()


def test_regime_returns_compound_to_the_whole_and_shares_sum_to_one() -> None:
    frame = _frame()
    table = regime_table(frame, {"strategy": "equity", "buy and hold": "buy_and_hold"}, 8760)
    assert list(table["regime"]) == [*REGIMES, WARM_UP]
    assert table["bars"].sum() == len(frame) - 1 and np.isclose(table["share"].sum(), 1.0)
    for name, column in (("strategy", "equity"), ("buy and hold", "buy_and_hold")):
        grown = np.prod(1 + table[f"{name} return"].fillna(0.0))
        assert np.isclose(grown, frame[column].iloc[-1] / frame[column].iloc[0])


def test_trade_summary_counts_wins_draws_losses_and_names_the_extremes() -> None:
    times = pd.date_range("2024-01-01", periods=4, freq="1D", tz="UTC")
    trades = pd.DataFrame({
        "side": ["long", "short", "long", "long"], "entry_time": times,
        "pnl_pct": [0.05, -0.02, 0.00001, 0.01], "exit_reason": ["signal", "stop", "flip", "open"],
        "duration_bars": [10, 4, 6, 3], "open": [False, False, False, True],
    })  # fmt: skip
    table = dict(zip(*trade_summary(trades).to_numpy().T, strict=True))
    assert table["trades (closed)"] == "3" and table["win / draw / loss"] == "1 / 1 / 1"
    assert table["exits"] == "signal 1, stop 1, flip 1"
    assert table["mean duration (bars)"] == "6.7" and table["open at the end"] == "1"
    assert table["best trade"] == "+5.00% (long, entered 2024-01-01 00:00, exit signal)"
    assert table["worst trade"].startswith("-2.00% (short, entered 2024-01-02 00:00, exit stop")


def test_hmm_states_are_the_argmax_the_agent_observed_and_warm_up_where_undefined() -> None:
    probs = np.array([[np.nan] * 3, [0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.0, 0.1, 0.9]])
    # the columns' numbers, not their order, name the states (p2 comes first here)
    steps = pd.DataFrame(probs, columns=["obs_hmm_p2", "obs_hmm_p0", "obs_hmm_p1"])
    steps["obs_cash"] = 1.0
    labels = hmm_state_labels(steps)
    assert list(labels) == [WARM_UP, "state 0", "state 2", "state 1", WARM_UP]
    assert hmm_state_labels(steps[["obs_cash"]]) is None  # features.hmm off: no table


def test_state_returns_compound_to_the_whole_with_the_prior_beside() -> None:
    frame = _frame()
    rng = np.random.default_rng(1)
    frame["prior"] = 10_000 * np.cumprod(1 + rng.normal(0, 0.001, len(frame)))
    frame["hmm_state"] = [f"state {i % 3}" for i in range(len(frame))]
    curves = curves_of(frame, "strategy")
    assert curves["prior trend_voltarget"] == "prior"
    table = state_table(frame, curves, 8760)
    assert list(table["HMM state"]) == ["state 0", "state 1", "state 2", WARM_UP]
    assert table["bars"].sum() == len(frame) - 1
    for name, column in curves.items():
        grown = np.prod(1 + table[f"{name} return"].fillna(0.0))
        assert np.isclose(grown, frame[column].iloc[-1] / frame[column].iloc[0])
    # the return of bar t counts in the state known at t - 1: shifting the labels moves it
    first = frame["prior"].iloc[1] / frame["prior"].iloc[0] - 1
    alone = frame.iloc[:2].assign(hmm_state=["state 1", "state 0"])
    assert state_table(alone, curves, 8760).set_index("HMM state").loc[
        "state 1", "prior trend_voltarget return"
    ] == pytest.approx(first)
    assert state_table(frame.drop(columns="hmm_state"), curves, 8760) is None


def test_backtest_report_breaks_down_by_hmm_state_for_agent_prior_and_buy_and_hold(
    bt_home: Path, tmp_path: Path
) -> None:
    """Issue 24: a backtest with features.hmm on writes hmm_states.csv and the report's
    section; every table has the prior's columns, which compound to the prior's return."""
    out = tmp_path / "result"
    args = ["backtest", "--policy", "buy_and_hold", "--start", "2025-02-01", "--end", "2025-02-28"]
    sets = [*bt_overrides(bt_home), "features.hmm.enabled=true", "features.fit_end=2024-12-31"]
    sets += [f"backtest.output_dir={out}", "tracking.enabled=false"]
    done = CliRunner().invoke(main, args + [part for s in sets for part in ("--set", s)])
    assert done.exit_code == 0, done.output
    states = pd.read_csv(out / "hmm_states.csv")
    regimes = pd.read_csv(out / "regimes.csv")
    steps = pd.read_csv(out / "steps.csv")
    hmm = sorted(c for c in steps.columns if c.startswith("obs_hmm_p"))
    assert len(hmm) == 4 and list(states["HMM state"])[-1] == WARM_UP
    counts = pd.Series(np.argmax(steps[hmm].to_numpy(), axis=1)).value_counts()
    assert dict(zip(states["HMM state"], states["bars"], strict=True)) == {
        **{f"state {j}": int(counts.get(j, 0)) for j in range(4)},
        WARM_UP: 0,
    }  # each bar in the state the policy saw when it chose the position
    prior = json.loads((out / "metrics.json").read_text())["prior"]
    for table in (states, regimes):
        grown = np.prod(1 + table["prior trend_voltarget return"].fillna(0.0)) - 1
        assert grown == pytest.approx(prior["performance"]["total_return"], abs=1e-9)
    report = (out / "report.html").read_text()
    assert 'id="hmm_states"' in report and "prior trend_voltarget Sharpe" in report
