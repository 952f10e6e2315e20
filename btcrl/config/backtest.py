"""Backtest period, policy and reporting."""

from datetime import date
from pathlib import Path

from pydantic import Field

from btcrl.config.base import Section


class BacktestConfig(Section):
    """The period and policy to evaluate. Rates are annual fractions."""

    model: str | None = Field(
        None, description="models:/NAME@ALIAS, models:/NAME/V, runs:/ID/model or PATH"
    )
    policy: str | None = Field(
        None, description="buy_and_hold | flat | trend_voltarget | strategy:NAME"
    )
    start: date | None = Field(None, description="first UTC day; None = data.start")
    end: date | None = Field(None, description="last UTC day (inclusive); None = data.end")
    risk_free_rate: float = Field(0.0, ge=-0.1, le=1, description="annual, fraction")
    force_close: bool = Field(True, description="close an open position at the last close")
    strict: bool = Field(False, description="overlap with training spans is an error")
    use_model_config: bool = Field(
        True,
        description="build features and trade with the model's own features/env config "
        "(False: this config's, checked against the model's FeatureSpec)",
    )
    plots: bool = Field(True, description="write report.html (every plot, plotly.js once)")
    png: bool = Field(
        True,
        description="ignored: backtests write no PNG copies (kaleido is not a dependency); "
        "kept so that config.yaml files of older runs still load",
    )
    output_dir: Path | None = Field(
        None, description="also keep the result files here (replaced atomically)"
    )
    experiment: str = "btcrl-backtest"
