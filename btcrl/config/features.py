"""What the agent sees: indicators, turbulence, external series and strategy signals."""

from typing import Literal

from pydantic import Field

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


class ExternalSeriesConfig(Section):
    """A daily external series (VIX, S&P 500, dollar index), shifted to be causal."""

    name: Literal["vix", "spx", "dxy"]
    source: str = Field("yfinance", description="yfinance | csv:PATH")
    enabled: bool = True


class FeaturesConfig(Section):
    """The ordered feature list; its order is the observation's order."""

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    turbulence: TurbulenceConfig = TurbulenceConfig()
    external: tuple[ExternalSeriesConfig, ...] = ()
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    cache: bool = Field(True, description="cache computed features under data_dir/features")
