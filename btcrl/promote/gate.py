"""The promotion gate, pure: does a challenger replace the champion?

A challenger is promoted only when both hold:

1. its stitched out-of-sample Deflated Sharpe Ratio (a probability in [0, 1]) is at least
   ``min_dsr``;
2. it *beats* the champion: its per-period Sharpe over the out-of-sample bars is strictly
   higher than the champion's over the very same bars (both series must be aligned by the
   caller, one return per bar). With no champion yet, condition 1 alone decides.
"""

import math
from dataclasses import dataclass

import numpy as np

from btcrl.backtest.selection import per_period_sharpe

DEFAULT_MIN_DSR = 0.95


@dataclass(frozen=True)
class Decision:
    """``promote``: move ``champion``; ``reason``: one line naming the numbers."""

    promote: bool
    reason: str


def decide(
    challenger_dsr: float,
    challenger_oos_returns: np.ndarray,
    champion_oos_returns: np.ndarray | None,
    min_dsr: float = DEFAULT_MIN_DSR,
) -> Decision:
    """Apply the gate (module docstring). Returns are per-period simple returns (fractions)
    on the same bars; Sharpe ratios in the reason are per period (not annualised).

    Raises ValueError when the DSR or ``min_dsr`` is not a probability, or when the two
    return series differ in length (they must cover the same bars).
    """
    for label, value in (("challenger DSR", challenger_dsr), ("min_dsr", min_dsr)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"{label} must be a probability in [0, 1], got {value}")
    challenger = np.asarray(challenger_oos_returns, dtype=np.float64).ravel()
    if challenger_dsr < min_dsr:
        return Decision(
            False, f"not promoted: DSR {challenger_dsr:.3f} is below promote.min_dsr {min_dsr:.3f}"
        )
    dsr_text = f"DSR {challenger_dsr:.3f} >= {min_dsr:.3f}"
    if champion_oos_returns is None:
        return Decision(True, f"promoted: {dsr_text} and there is no champion yet")
    champion = np.asarray(champion_oos_returns, dtype=np.float64).ravel()
    if champion.shape != challenger.shape:
        raise ValueError(
            f"challenger ({challenger.size} bars) and champion ({champion.size} bars) "
            "must be compared on the same bars"
        )
    ours, theirs = per_period_sharpe(challenger), per_period_sharpe(champion)
    bars = f"over the same {challenger.size:,} out-of-sample bars"
    if ours > theirs:
        return Decision(
            True,
            f"promoted: {dsr_text}; Sharpe {ours:.4f} beats the champion's {theirs:.4f} {bars}",
        )
    return Decision(
        False,
        f"not promoted: {dsr_text} but Sharpe {ours:.4f} does not beat the champion's "
        f"{theirs:.4f} {bars}",
    )
