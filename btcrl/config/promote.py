"""Promotion gate settings (``btcrl promote``)."""

from pydantic import Field

from btcrl.config.base import Section


class PromoteConfig(Section):
    """When a challenger replaces the champion (docs/selection.md)."""

    min_dsr: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="lowest stitched out-of-sample Deflated Sharpe Ratio (probability) to promote",
    )
    min_overlap: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="share of the challenger's out-of-sample bars the champion's re-run must "
        "also cover (fraction); below it the comparison is refused",
    )
    allow_single_trial: bool = Field(
        False,
        description="accept a DSR that counted one configuration (N = 1: it is the PSR, "
        "which accounts for no selection)",
    )
