"""The report's headline cells: fractions as percentages, infinities spelled out."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btcrl.data.sample import load_sample
from btcrl.metrics.stats import TrialCount
from btcrl.policy.policies import PRIOR_RULE
from btcrl.walkforward.report import HEADLINE, _cell, trials_html, write_report


def test_cells() -> None:
    assert _cell(-0.680859, "%") == "-68.09 %"
    assert _cell(7.1573, "%") == "+715.73 %"
    assert _cell(0.409091, "%u") == "40.91 %"
    assert _cell(540.2018, ",.0f") == "540"
    assert _cell(48156.0, ",.0f") == "48,156"
    assert _cell(math.inf, ",.0f") == "+inf"
    assert _cell(math.nan, ".3f") == "n/a"


def test_every_headline_metric_has_a_label_and_format() -> None:
    keys = [key for key, _, _ in HEADLINE]
    assert len(keys) == len(set(keys))
    assert all(fmt.startswith("%") or format(1.5, fmt) for _, _, fmt in HEADLINE)


def test_trials_section_names_what_was_counted_and_labels_a_single_trial() -> None:
    counted = TrialCount(2, 1e-6, "trial ledger", ("run-a walkforward-a", "run-b"), (0.01, 0.02))
    text = trials_html(counted)
    assert "N = 2 configurations" in text and "V = 1e-06" in text
    assert "run-a walkforward-a" in text and "0.02000" in text
    single = trials_html(TrialCount(1, 0.0, "trial ledger", ("run-a",), (0.01,)))
    assert single.startswith("<p><b>PSR, not a DSR:</b> N = 1")
    assert "--allow-single-trial" in single
    assert trials_html(None) == ""


def _stitched(name: str, times: pd.DatetimeIndex, equity: np.ndarray, steps: pd.DataFrame) -> Any:
    from btcrl.walkforward.aggregate import Stitched

    return Stitched(name, [], times, equity, steps, pd.DataFrame(), {}, {})


def test_report_breaks_down_by_regime_and_hmm_state_with_the_prior(tmp_path: Path) -> None:
    """Issue 24: the walk-forward report's breakdowns show the prior beside the model and
    buy-and-hold, and a table by the HMM state the model observed (its steps' columns)."""
    from btcrl.walkforward.aggregate import Aggregate

    close = load_sample()["close"].loc["2024-06-01":"2024-08-31"]
    n = len(close)
    rng = np.random.default_rng(0)
    curve = 10_000 * np.cumprod(np.r_[1.0, 1 + rng.normal(0, 0.002, n - 1)])
    probs = rng.dirichlet(np.ones(3), n - 1)
    steps = pd.DataFrame(probs, columns=[f"obs_hmm_p{j}" for j in range(3)], index=close.index[1:])
    model = _stitched("seed 0", close.index, curve, steps)
    bh = _stitched("buy_and_hold", close.index, 10_000 * close.to_numpy() / close.iloc[0], steps)
    prior = _stitched("trend_voltarget", close.index, curve[::-1].copy(), steps)
    table = pd.DataFrame(
        {"seed": [0], "segment": [0], "test_start": ["2024-06-01"], "oos_total_return": [0.1]}
    ).assign(bh_return=0.05, alpha=0.05)
    result = Aggregate([], (0,), {0: model}, {"buy_and_hold": bh, PRIOR_RULE: prior}, table=table)
    write_report(result, "wf", tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text()
    assert 'id="regimes"' in text and 'id="hmm_states"' in text
    assert "prior trend_voltarget return" in text
    states = text[text.index('id="hmm_states"') : text.index('id="trade_table"')]
    counts = np.bincount(probs.argmax(axis=1), minlength=3)
    for j in range(3):  # each bar's return counts in the state seen when it was chosen
        assert f"<td>state {j}</td>\n      <td>{counts[j]}</td>" in states
    without = Aggregate([], (0,), {0: _stitched("seed 0", close.index, curve, steps[[]])},
                        {"buy_and_hold": bh}, table=table)  # fmt: skip
    write_report(without, "wf", tmp_path / "plain.html")
    plain = (tmp_path / "plain.html").read_text()
    assert 'id="hmm_states"' not in plain and "prior trend_voltarget" not in plain
