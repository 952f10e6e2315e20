"""Walk-forward evaluation: calendar-month segments, per-segment training and out-of-sample
tests, one stitched out-of-sample equity curve with PSR/DSR (docs/walkforward.md).

Heavy imports (torch, SB3, MLflow, Optuna) happen on first use of ``run_walkforward``.
"""

from typing import TYPE_CHECKING, Any

from btcrl.walkforward.split import Segment, make_segments, select_segments

if TYPE_CHECKING:
    from btcrl.walkforward.runner import WalkforwardResult, run_walkforward

__all__ = ["Segment", "WalkforwardResult", "make_segments", "run_walkforward", "select_segments"]


def __getattr__(name: str) -> Any:
    if name in ("WalkforwardResult", "run_walkforward"):
        from btcrl.walkforward import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'btcrl.walkforward' has no attribute {name!r}")
