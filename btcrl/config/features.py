"""What the agent sees: indicators, turbulence, external series and strategy signals."""

from typing import Literal

from pydantic import Field, field_validator

from btcrl.config.base import Section

DEFAULT_INDICATORS = (
    "macd",
    "boll_ub",
    "boll_lb",
    "rsi_30",
    "cci_30",
    "dx_30",
    "close_30_sma",
    "close_60_sma",
)
DEFAULT_STRATEGIES = ("awesome_macd", "bollinger_rsi", "ott", "supertrend", "volatility_breakout")


class TurbulenceConfig(Section):
    """Mahalanobis market-stress index over a trailing window of multi-horizon returns."""

    enabled: bool = True
    window: int = Field(240, ge=20, description="trailing window, bars")
    horizons: tuple[int, ...] = Field((1, 4, 24), description="return horizons, bars")

    @field_validator("horizons")
    @classmethod
    def _check_horizons(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) < 1 or len(set(value)) != len(value):
            raise ValueError("must be distinct positive bar counts, e.g. [1, 4, 24]")
        return value


class ExternalSeriesConfig(Section):
    """A daily external series (VIX, S&P 500, dollar index), shifted to be causal."""

    name: Literal["vix", "spx", "dxy"]
    source: str = Field("yfinance", description="yfinance | csv:PATH")
    enabled: bool = True

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if value == "yfinance" or (value.startswith("csv:") and len(value) > 4):
            return value
        raise ValueError("must be 'yfinance' or 'csv:PATH'")


class FeaturesConfig(Section):
    """The ordered feature list; its order is the observation's order."""

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    turbulence: TurbulenceConfig = TurbulenceConfig()
    external: tuple[ExternalSeriesConfig, ...] = ()
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    volume_window: int = Field(
        168, ge=2, description="trailing bars for the mean of log1p(volume) it is measured against"
    )
    cache: bool = Field(True, description="cache computed features under data_dir/features")

    @field_validator("indicators", "strategies")
    @classmethod
    def _check_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"lists {duplicates} more than once")
        return value
