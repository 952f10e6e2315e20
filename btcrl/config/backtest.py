"""Backtest period, policy and reporting."""

from datetime import date

from pydantic import Field

from btcrl.config.base import Section


class BacktestConfig(Section):
    """The period and policy to evaluate. Rates are annual fractions."""

    model: str | None = Field(
        None, description="models:/NAME@ALIAS, models:/NAME/V, runs:/ID/model or PATH"
    )
    policy: str | None = Field(None, description="buy_and_hold | flat | strategy:NAME")
    start: date | None = None
    end: date | None = None
    risk_free_rate: float = Field(0.0, ge=-0.1, le=1, description="annual, fraction")
    force_close: bool = True
    strict: bool = Field(False, description="overlap with training spans is an error")
    plots: bool = True
    experiment: str = "btcrl-backtest"
