"""Champion / challenger promotion through the gate (docs/selection.md).

``decide`` (pure) in :mod:`btcrl.promote.gate`; ``promote_model`` (registry, replay) in
:mod:`btcrl.promote.challenge`, imported on use because it pulls in the agents.
"""

from btcrl.promote.gate import DEFAULT_MIN_DSR, Decision, decide

__all__ = ["DEFAULT_MIN_DSR", "Decision", "decide"]
