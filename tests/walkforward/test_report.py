"""The report's headline cells: fractions as percentages, infinities spelled out."""

import math

from btcrl.backtest.stats import TrialCount
from btcrl.walkforward.report import HEADLINE, _cell, trials_html


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
