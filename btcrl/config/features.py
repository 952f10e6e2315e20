"""What the agent sees: indicators, turbulence, external series and strategy signals."""

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

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
    """A daily external series (VIX, S&P 500, dollar index, NASDAQ), shifted to be causal."""

    name: Literal["vix", "spx", "dxy", "nasdaq"]
    source: str = Field("yfinance", description="yfinance | csv:PATH")
    enabled: bool = True

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if value == "yfinance" or (value.startswith("csv:") and len(value) > 4):
            return value
        raise ValueError("must be 'yfinance' or 'csv:PATH'")


class ContextAssetConfig(Section):
    """One context series beside the traded market: candles of another symbol from the candle
    store (``{source: csv:PATH, symbol: ETH/USDT}``) or a daily external series
    (``{external: nasdaq}``, same columns as ``features.external``)."""

    source: str | None = Field(None, description="sample | ccxt | csv:PATH (candle context)")
    symbol: str | None = Field(None, description="market symbol of a candle context, ETH/USDT")
    exchange: str | None = Field(None, description="ccxt exchange id; None = the data's")
    external: Literal["vix", "spx", "dxy", "nasdaq"] | None = Field(
        None, description="a daily external series instead of candles"
    )
    external_source: str = Field("yfinance", description="yfinance | csv:PATH (external only)")

    @model_validator(mode="after")
    def _check_kind(self) -> "ContextAssetConfig":
        candles = self.source is not None or self.symbol is not None
        if candles == (self.external is not None):
            raise ValueError("give either source + symbol (candles) or external (a daily series)")
        if candles and not (self.source and self.symbol):
            raise ValueError("a candle context needs both source and symbol")
        if self.source is not None and not (
            self.source in ("sample", "ccxt") or self.source.startswith("csv:")
        ):
            raise ValueError(f"source {self.source!r} must be 'sample', 'ccxt' or 'csv:PATH'")
        return self

    @property
    def name(self) -> str:
        """Column prefix: the base currency in lower case (``eth``) or the external name."""
        if self.external is not None:
            return self.external
        return str(self.symbol).split("/")[0].lower()


class ContextFeaturesConfig(Section):
    """Windows of the context-asset columns (see ``btcrl.features.context``)."""

    horizons: tuple[int, ...] = Field((1, 4, 24), description="log-return horizons, bars")
    window: int = Field(168, ge=10, description="rolling correlation / beta window, bars")
    ratio_horizon: int = Field(24, ge=1, description="bars of the <asset>/base ratio return")


class RangeVolatilityConfig(Section):
    """Parkinson and Garman-Klass volatility over a trailing window (per-bar, in %)."""

    enabled: bool = False
    window: int = Field(24, ge=2, description="trailing bars")


class ReturnsConfig(Section):
    """Log returns over several horizons and trailing z-scores of log close."""

    enabled: bool = False
    horizons: tuple[int, ...] = Field((1, 4, 24), description="log-return horizons, bars")
    zscore_windows: tuple[int, ...] = Field((24, 168), description="z-score windows, bars")


class HMMConfig(Section):
    """Filtered regime probabilities of a Gaussian HMM fitted on the train span only."""

    enabled: bool = False
    states: int = Field(4, ge=2, le=8)
    vol_window: int = Field(24, ge=2, description="realised-volatility window, bars")
    seeds: tuple[int, ...] = Field((0, 1, 2), description="EM restarts, one per seed")
    restart_iter: int = Field(5, ge=1, description="EM iterations of each restart")
    restart_rows: int = Field(20_000, ge=200, description="last train bars the restarts use")
    n_iter: int = Field(30, ge=1, description="further EM iterations of the best restart")
    tol: float = Field(1e-2, gt=0, description="EM stop: log-likelihood gain per iteration")


class FracDiffConfig(Section):
    """Fixed-width fractionally differentiated log close; ``d`` fitted on the train span."""

    enabled: bool = False
    d_grid: tuple[float, ...] = Field(
        tuple(round(0.05 * i, 2) for i in range(1, 21)), description="candidate orders d"
    )
    threshold: float = Field(1e-5, gt=0, description="weights below this are cut")
    adf_pvalue: float = Field(0.05, gt=0, lt=1, description="ADF rejection level")
    adf_max_rows: int = Field(20_000, ge=200, description="last train rows the ADF test uses")


class PriorConfig(Section):
    """The ``trend_voltarget`` prior (docs/features.md "The prior"): a long/flat trend filter
    (close above its SMA, one signal per lookback, averaged) times a volatility target, as a
    daily rule decided at each clock hour and averaged over the hourly tranches. When enabled
    its components and exposure are observed columns (``prior_trend``, ``prior_vol_scale``,
    ``prior_exposure``); ``btcrl backtest --policy trend_voltarget`` and
    ``env.action_mode: residual`` trade its exposure."""

    enabled: bool = Field(False, description="add the prior's columns to the feature set")
    sma_days: tuple[int, ...] = Field(
        (50, 100, 200), description="SMA lookbacks, days of daily closes at the decision hour"
    )
    target_volatility: float = Field(
        0.30, gt=0, le=5, description="annualised volatility target, fraction (0.30 = 30 %)"
    )
    vol_window_days: int = Field(
        30, ge=2, le=1000, description="days of daily log returns in the realised volatility"
    )
    exposure_cap: float = Field(
        1.0, gt=0, le=10, description="cap on the vol-targeted exposure, fraction of equity"
    )
    rebalance_band: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="a tranche keeps its exposure until the new one differs by more than this",
    )
    tranches: int = Field(
        24,
        ge=1,
        le=1440,
        description="clock-hour tranches averaged (evenly spaced over the day; at most the "
        "bars per day)",
    )

    @field_validator("sma_days")
    @classmethod
    def _check_sma(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) < 2 or len(set(value)) != len(value):
            raise ValueError("must be distinct day counts >= 2, e.g. [50, 100, 200]")
        return value


class FeaturesConfig(Section):
    """The ordered feature list; its order is the observation's order."""

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    turbulence: TurbulenceConfig = TurbulenceConfig()
    external: tuple[ExternalSeriesConfig, ...] = ()
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    context: tuple[ContextAssetConfig, ...] = ()
    context_features: ContextFeaturesConfig = ContextFeaturesConfig()
    range_volatility: RangeVolatilityConfig = RangeVolatilityConfig()
    returns: ReturnsConfig = ReturnsConfig()
    hmm: HMMConfig = HMMConfig()
    fracdiff: FracDiffConfig = FracDiffConfig()
    prior: PriorConfig = PriorConfig()
    fit_end: date | None = Field(
        None,
        description="last UTC day fitted features (hmm, fracdiff) may fit on when the caller "
        "gives no train span (btcrl features, rule backtests); training uses its own split",
    )
    volume_window: int = Field(
        168, ge=2, description="trailing bars for the mean of log1p(volume) it is measured against"
    )
    cache: bool = Field(True, description="cache computed features under data_dir/features")

    @field_validator("context")
    @classmethod
    def _check_context(
        cls, value: tuple[ContextAssetConfig, ...]
    ) -> tuple[ContextAssetConfig, ...]:
        names = [c.name for c in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"names context {duplicates} more than once")
        return value

    @field_validator("indicators", "strategies")
    @classmethod
    def _check_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"lists {duplicates} more than once")
        return value
