"""The promotion gate: DSR floor, same-bar Sharpe comparison, one-line reasons."""

import numpy as np
import pytest

from btcrl.promote import Decision, decide

# per-period Sharpe 2.0 (mean 0.02, sample std 0.01) and 1.0 (mean 0.01, std 0.01)
STRONG = np.array([0.01, 0.02, 0.03])
WEAK = np.array([0.0, 0.01, 0.02])


def test_no_champion_only_the_dsr_decides() -> None:
    assert decide(0.96, STRONG, None) == Decision(
        True, "promoted: DSR 0.960 >= 0.950 and there is no champion yet"
    )
    assert decide(0.94, STRONG, None) == Decision(
        False, "not promoted: DSR 0.940 is below promote.min_dsr 0.950"
    )


def test_dsr_exactly_at_the_floor_passes() -> None:
    assert decide(0.95, STRONG, None).promote
    assert decide(0.5, STRONG, None, min_dsr=0.5).promote


def test_beats_the_champion_on_the_same_bars() -> None:
    decision = decide(0.99, STRONG, WEAK)
    assert decision.promote
    assert decision.reason == (
        "promoted: DSR 0.990 >= 0.950; Sharpe 2.0000 beats the champion's 1.0000 "
        "over the same 3 out-of-sample bars"
    )


def test_loses_or_ties_with_the_champion() -> None:
    lost = decide(0.99, WEAK, STRONG)
    assert not lost.promote
    assert lost.reason == (
        "not promoted: DSR 0.990 >= 0.950 but Sharpe 1.0000 does not beat the champion's "
        "2.0000 over the same 3 out-of-sample bars"
    )
    assert not decide(0.99, STRONG, STRONG.copy()).promote  # a tie is not a win


def test_a_low_dsr_fails_even_against_a_worse_champion() -> None:
    decision = decide(0.5, STRONG, WEAK)
    assert not decision.promote
    assert "below promote.min_dsr" in decision.reason
    assert "\n" not in decision.reason


@pytest.mark.parametrize(
    ("dsr", "champion", "min_dsr", "match"),
    [
        (1.2, None, 0.95, "challenger DSR"),
        (float("nan"), None, 0.95, "challenger DSR"),
        (0.99, None, -0.1, "min_dsr"),
        (0.99, np.zeros(4), 0.95, "same bars"),
    ],
)
def test_bad_input(dsr: float, champion: np.ndarray | None, min_dsr: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decide(dsr, STRONG, champion, min_dsr)
