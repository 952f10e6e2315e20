"""FeatureSpec and FeatureSet: the contract between features, env, trained models and backtests.

A FeatureSet holds, per bar, the raw prices the trade engine fills at and the normalised
float32 market features the agent observes. Its FeatureSpec records names, order and
normalisation of those columns plus the market and a hash of the candles; it is saved with
every trained model, and a later backtest refuses data whose spec differs.

The observation the env builds at row t is ``[cash_ratio, *features[t], position_ratio]``
(``FeatureSpec.observation_names``).
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from btcrl.errors import CompatibilityError

SPEC_VERSION = 1
ACCOUNT_HEAD = ("cash_ratio",)
ACCOUNT_TAIL = ("position_ratio",)
ACTION_NAMES = ("a_pos", "a_sl")


@dataclass(frozen=True)
class ColumnSpec:
    """One observed market column: its name, what it is, and how it was normalised.

    ``kind``: price | volume | indicator | turbulence | external | context | volatility |
    return | signal | prior | fitted.
    ``normalisation``: a short name (``ratio_to_close``, ``log1p_zscore``, ``scale``,
    ``tanh``, ``onehot``, ...) with its constants in ``params``; a ``fitted`` column is
    normalised by its feature's transform, from ``FeatureSpec.fitted``.
    """

    name: str
    kind: str
    normalisation: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FittedParams:
    """The params of one fitted feature (``btcrl.features.fitted``) and the span it was fitted
    on: bars with open times ``fit_start .. fit_end`` (ISO UTC, inclusive), ``rows`` of them.

    ``values`` holds JSON numbers and small lists (an HMM: 4 + 16 + 8 + 8 floats), stored
    inline in ``feature_spec.json``. A feature whose params are large arrays would store them
    as a model artifact and keep its path and hash here instead.
    """

    name: str
    fit_start: str
    fit_end: str
    rows: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSpec:
    """Names, order and normalisation of the observed columns, plus market and data hash.

    ``fitted``: the params of each fitted feature with its train span; they shape the
    values, not the layout, so ``spec_hash`` leaves them out and ``check_compatible``
    compares them separately."""

    exchange: str
    symbol: str
    timeframe: str
    columns: tuple[ColumnSpec, ...]
    indicators: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    data_hash: str = ""
    first_bar: str = ""
    last_bar: str = ""
    version: int = SPEC_VERSION
    fitted: tuple[FittedParams, ...] = ()

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Market column names, in observation order."""
        return tuple(c.name for c in self.columns)

    @property
    def observation_names(self) -> tuple[str, ...]:
        """Every observation entry, in order: account head, market columns, account tail."""
        return ACCOUNT_HEAD + self.feature_names + ACCOUNT_TAIL

    @property
    def observation_size(self) -> int:
        return len(self.observation_names)

    @property
    def action_size(self) -> int:
        return len(ACTION_NAMES)

    @property
    def spec_hash(self) -> str:
        """Hash of everything that shapes the observation (not the market or the data span)."""
        layout = {
            "version": self.version,
            "timeframe": self.timeframe,
            "columns": [asdict(c) for c in self.columns],
            "indicators": self.indicators,
            "external": self.external,
            "strategies": self.strategies,
        }
        if self.context:  # only when present, so older specs keep their hash
            layout["context"] = self.context
        text = json.dumps(layout, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["observation_names"] = list(self.observation_names)
        out["action_names"] = list(ACTION_NAMES)
        out["spec_hash"] = self.spec_hash
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSpec":
        columns = tuple(ColumnSpec(**c) for c in data["columns"])
        return cls(
            exchange=data["exchange"],
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            columns=columns,
            indicators=tuple(data.get("indicators", ())),
            external=tuple(data.get("external", ())),
            strategies=tuple(data.get("strategies", ())),
            context=tuple(data.get("context", ())),
            data_hash=data.get("data_hash", ""),
            first_bar=data.get("first_bar", ""),
            last_bar=data.get("last_bar", ""),
            version=int(data.get("version", SPEC_VERSION)),
            fitted=tuple(FittedParams(**f) for f in data.get("fitted", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        return cls.from_dict(json.loads(text))

    def check_compatible(self, data: "FeatureSpec") -> list[str]:
        """Raise CompatibilityError at the first layout difference between this (a model's)
        spec and ``data``'s; return warnings for differences that do not break the model
        (another symbol or exchange)."""
        checks: list[tuple[str, Any, Any]] = [
            ("spec version", self.version, data.version),
            ("timeframe", self.timeframe, data.timeframe),
            ("indicators", self.indicators, data.indicators),
            ("external series", self.external, data.external),
            ("strategies", self.strategies, data.strategies),
            ("context assets", self.context, data.context),
            ("observation size", self.observation_size, data.observation_size),
        ]
        for what, model_value, data_value in checks:
            if model_value != data_value:
                raise CompatibilityError(
                    f"{what} differs: model has {model_value!r}, data has {data_value!r}"
                )
        for i, (mine, theirs) in enumerate(zip(self.columns, data.columns, strict=True)):
            if mine != theirs:
                raise CompatibilityError(
                    f"observation column {i + len(ACCOUNT_HEAD)} differs: model has {mine}, "
                    f"data has {theirs}"
                )
        for own, other in zip(self.fitted, data.fitted, strict=False):
            if own != other:
                raise CompatibilityError(
                    f"fitted feature {own.name!r} differs: the model's was fitted on "
                    f"{own.fit_start} .. {own.fit_end}, the data's on {other.fit_start} .. "
                    f"{other.fit_end} (build the data with the model's spec.fitted)"
                )
        warnings = []
        for what, model_value, data_value in (
            ("exchange", self.exchange, data.exchange),
            ("symbol", self.symbol, data.symbol),
        ):
            if model_value != data_value:
                warnings.append(
                    f"{what} differs: model trained on {model_value}, data is {data_value}"
                )
        return warnings


@dataclass(frozen=True)
class FeatureSet:
    """Per-bar arrays for the env: raw prices to fill at, normalised features to observe.

    - ``times``: int64 nanoseconds since epoch, UTC bar open times, shape (T,)
    - ``prices``: float64 (T, 4) raw open, high, low, close (quote currency)
    - ``volume``: float64 (T,) raw volume (base units)
    - ``features``: float32 (T, F) normalised market columns, ``spec.columns`` order
    - ``first_valid``: first row at which every feature is defined (after warm-up);
      rows before it may hold NaN and are never observed
    - ``raw``: optional float64 (T, R) raw (un-normalised) values named by ``raw_names``
      (indicators in price units, turbulence, external levels, strategy signal codes), for
      ``btcrl.features.feature_table``; ``None`` when not kept
    """

    spec: FeatureSpec
    times: np.ndarray
    prices: np.ndarray
    volume: np.ndarray
    features: np.ndarray
    first_valid: int = 0
    raw: np.ndarray | None = None
    raw_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def index(self) -> pd.DatetimeIndex:
        """Bar open times as a UTC DatetimeIndex."""
        return pd.DatetimeIndex(pd.to_datetime(self.times, utc=True), name="time")

    def rows(self, start: int, stop: int) -> "FeatureSet":
        """Rows ``start:stop`` (0 <= start <= stop <= len); ``first_valid`` shifts with them."""
        return replace(
            self,
            times=self.times[start:stop],
            prices=self.prices[start:stop],
            volume=self.volume[start:stop],
            features=self.features[start:stop],
            first_valid=max(0, self.first_valid - start),
            raw=None if self.raw is None else self.raw[start:stop],
        )

    def between(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> "FeatureSet":
        """Bars whose open time is in [start, end] (UTC; None = unbounded)."""
        lo = 0 if start is None else int(np.searchsorted(self.times, _ns(start), "left"))
        hi = len(self) if end is None else int(np.searchsorted(self.times, _ns(end), "right"))
        return self.rows(lo, hi)


def _ns(stamp: pd.Timestamp | str) -> np.int64:
    ts = pd.Timestamp(stamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return np.int64(ts.value)
