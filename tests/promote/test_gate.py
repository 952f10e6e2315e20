"""The promotion gate: DSR floor, same-bar Sharpe comparison, one-line reasons."""

import numpy as np
import pytest

from btcrl.promote import Decision, decide

# per-bar Sharpe 2.0 (mean 0.02, sample std 0.01) and 1.0 (mean 0.01, std 0.01)
STRONG = np.array([0.01, 0.02, 0.03])
WEAK = np.array([0.0, 0.01, 0.02])
N = 10  # configurations the DSR counted


def test_no_champion_only_the_dsr_decides() -> None:
    assert decide(0.96, STRONG, None, n_trials=N) == Decision(
        True, "promoted: DSR (N = 10) 0.960 >= 0.950 and there is no champion yet"
    )
    assert decide(0.94, STRONG, None, n_trials=N) == Decision(
        False, "not promoted: DSR (N = 10) 0.940 is below promote.min_dsr 0.950"
    )


def test_dsr_exactly_at_the_floor_passes() -> None:
    assert decide(0.95, STRONG, None, n_trials=N).promote
    assert decide(0.5, STRONG, None, min_dsr=0.5, n_trials=N).promote


def test_beats_the_champion_on_the_same_bars() -> None:
    decision = decide(0.99, STRONG, WEAK, n_trials=N)
    assert decision.promote
    assert decision.reason == (
        "promoted: DSR (N = 10) 0.990 >= 0.950; per-bar Sharpe 2.0000 beats the champion's 1.0000 "
        "over the same 3 out-of-sample bars"
    )


def test_loses_or_ties_with_the_champion() -> None:
    lost = decide(0.99, WEAK, STRONG, n_trials=N)
    assert not lost.promote
    assert lost.reason == (
        "not promoted: DSR (N = 10) 0.990 >= 0.950 but per-bar Sharpe 1.0000 does not beat "
        "the champion's 2.0000 over the same 3 out-of-sample bars"
    )
    assert not decide(0.99, STRONG, STRONG.copy(), n_trials=N).promote  # a tie is not a win


def test_a_low_dsr_fails_even_against_a_worse_champion() -> None:
    decision = decide(0.5, STRONG, WEAK, n_trials=N)
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
        decide(dsr, STRONG, champion, min_dsr, n_trials=N)


@pytest.mark.parametrize("n_trials", [None, 1])
def test_a_single_trial_psr_is_refused_unless_allowed(n_trials: int | None) -> None:
    refused = decide(0.99, STRONG, None, n_trials=n_trials)
    assert not refused.promote
    assert "so it is the PSR 0.990 and accounts for no selection" in refused.reason
    assert "--allow-single-trial" in refused.reason
    allowed = decide(0.99, STRONG, None, n_trials=n_trials, allow_single_trial=True)
    assert allowed == Decision(
        True, "promoted: PSR (N = 1) 0.990 >= 0.950 and there is no champion yet"
    )
    low = decide(0.9, STRONG, None, n_trials=n_trials, allow_single_trial=True)
    assert low.reason == "not promoted: PSR (N = 1) 0.900 is below promote.min_dsr 0.950"
