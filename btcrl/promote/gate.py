"""The promotion gate, pure: does a challenger replace the champion?

A challenger is promoted only when all hold:

1. its Deflated Sharpe Ratio counts more than one configuration (``n_trials`` >= 2): with
   N = 1 the "DSR" is the PSR, which does not account for any selection, and the gate
   refuses it unless ``allow_single_trial`` (``btcrl promote --allow-single-trial``);
2. its stitched out-of-sample DSR (a probability in [0, 1]) is at least ``min_dsr``;
3. it *beats* the champion: its per-bar Sharpe (not annualised) over the out-of-sample bars
   is strictly higher than the champion's over the very same bars (both series must be
   aligned by the caller, one return per bar). With no champion yet, 1 and 2 decide.
"""

import math
from dataclasses import dataclass

import numpy as np

from btcrl.metrics import sharpe_per_bar

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
    n_trials: int | None = None,
    allow_single_trial: bool = False,
) -> Decision:
    """Apply the gate (module docstring). ``n_trials``: the N the DSR counted (None:
    unknown, treated as 1). Returns are per-bar simple returns (fractions) on the same bars;
    Sharpe ratios in the reason are per bar (not annualised).

    Raises ValueError when the DSR or ``min_dsr`` is not a probability, or when the two
    return series differ in length (they must cover the same bars).
    """
    for label, value in (("challenger DSR", challenger_dsr), ("min_dsr", min_dsr)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"{label} must be a probability in [0, 1], got {value}")
    challenger = np.asarray(challenger_oos_returns, dtype=np.float64).ravel()
    single = n_trials is None or n_trials < 2
    name = "PSR (N = 1)" if single else f"DSR (N = {n_trials})"
    if single and not allow_single_trial:
        counted = "counts no trials" if n_trials is None else "counts N = 1 configuration"
        return Decision(
            False,
            f"not promoted: its DSR {counted}, so it is the PSR {challenger_dsr:.3f} and "
            "accounts for no selection; run the other configurations on the same windows "
            "(the trial ledger counts them) or pass --allow-single-trial",
        )
    if challenger_dsr < min_dsr:
        return Decision(
            False,
            f"not promoted: {name} {challenger_dsr:.3f} is below promote.min_dsr {min_dsr:.3f}",
        )
    dsr_text = f"{name} {challenger_dsr:.3f} >= {min_dsr:.3f}"
    if champion_oos_returns is None:
        return Decision(True, f"promoted: {dsr_text} and there is no champion yet")
    champion = np.asarray(champion_oos_returns, dtype=np.float64).ravel()
    if champion.shape != challenger.shape:
        raise ValueError(
            f"challenger ({challenger.size} bars) and champion ({champion.size} bars) "
            "must be compared on the same bars"
        )
    ours, theirs = float(sharpe_per_bar(challenger)), float(sharpe_per_bar(champion))
    bars = f"over the same {challenger.size:,} out-of-sample bars"
    if ours > theirs:
        return Decision(
            True,
            f"promoted: {dsr_text}; per-bar Sharpe {ours:.4f} beats the champion's "
            f"{theirs:.4f} {bars}",
        )
    return Decision(
        False,
        f"not promoted: {dsr_text} but per-bar Sharpe {ours:.4f} does not beat the champion's "
        f"{theirs:.4f} {bars}",
    )
