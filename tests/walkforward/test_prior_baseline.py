"""A walk-forward of the shipped default (residual PPO around the prior) stitches the prior as
a baseline and reports the excess over it and over buy-and-hold."""

import math
from pathlib import Path

import pytest

from btcrl.walkforward import run_walkforward
from tests.walkforward.test_resume import tiny_walkforward


@pytest.mark.slow  # a real walk-forward, about 30 s
def test_walkforward_reports_the_prior_and_the_excess_over_it(
    tmp_path: Path, tracking_uri: str
) -> None:
    config = tiny_walkforward(tmp_path, tracking_uri, **{"walkforward.segments": [0]})
    assert config.env.action_mode == "residual" and config.features.prior.enabled
    result = run_walkforward(config)
    m = result.metrics
    assert math.isfinite(m["trend_voltarget/total_return"])
    assert "trend_voltarget_return" in result.table.columns  # segments.csv: the prior per segment
    for base in ("buy_and_hold", "trend_voltarget"):
        assert 0.0 <= m[f"{base}/excess_psr"] <= 1.0
        assert math.isfinite(m[f"{base}/excess_sharpe"])
        want = m["stitched/total_return"] - m[f"{base}/total_return"]
        assert m[f"{base}/excess_return"] == pytest.approx(want, abs=1e-12)
