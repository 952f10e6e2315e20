"""The report's headline cells: fractions as percentages, infinities spelled out."""

import math

from btcrl.walkforward.report import HEADLINE, _cell


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
