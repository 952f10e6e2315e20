"""Strategy base class, signal codes and the registry (extensible through entry points).

A strategy turns candles *at its own timeframe* into one signal per bar:

- ``FLAT`` (0): close any position / stay out
- ``LONG`` (1): be long
- ``SHORT`` (2): be short
- ``HOLD`` (3): no new information, keep what you have

Rows during warm-up are ``UNDEFINED`` (-1) internally; ``strategy_signals`` reports them as
FLAT and the FeatureSet leaves them before ``first_valid``. ``signals(candles)[t]`` must read
candles ``<= t`` only; the tests check that against a per-candle recomputation.

Third-party strategies register without editing btcrl: subclass ``Strategy`` and expose the
class under the entry-point group ``btcrl.strategies``, e.g. in ``pyproject.toml``::

    [project.entry-points."btcrl.strategies"]
    my_rule = "mypkg.rules:MyRule"
"""

import enum
import logging
from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from btcrl.errors import ConfigError

logger = logging.getLogger(__name__)

#: the entry-point group plug-in strategies register under: this package's dotted name
ENTRY_POINT_GROUP = __name__.rpartition(".")[0]
UNDEFINED = -1
SIGNAL_NAMES = ("flat", "long", "short", "hold")


class Signal(enum.IntEnum):
    """Strategy signal codes, in one-hot order."""

    FLAT = 0
    LONG = 1
    SHORT = 2
    HOLD = 3


class Strategy(ABC):
    """A rule-based trading signal on one timeframe.

    Class attributes: ``name`` (registry key), ``timeframe`` (the bar length it runs on;
    ``None`` = the base timeframe of the data). Instances carry their parameters; the
    defaults are the documented ones. ``warmup`` is the number of bars at the strategy's
    own timeframe before its signal is defined.
    """

    name: ClassVar[str] = ""
    timeframe: ClassVar[str | None] = None

    def __init__(self, timeframe: str | None = None, **params: Any) -> None:
        if timeframe is not None:
            self.timeframe = timeframe  # type: ignore[misc]
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise ConfigError(
                f"strategy {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.default_params())}"
            )
        self.params: dict[str, Any] = {**self.default_params(), **params}

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Parameter names and their default values."""
        return {}

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Bars (at this strategy's timeframe) before the signal is defined."""

    @abstractmethod
    def signals(self, candles: pd.DataFrame) -> np.ndarray:
        """int8 signal per bar of ``candles`` (already at this strategy's timeframe),
        ``UNDEFINED`` during warm-up. Vectorised and causal."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(timeframe={self.timeframe!r}, {self.params})"


_REGISTRY: dict[str, type[Strategy]] = {}
_ENTRY_POINTS_LOADED = False


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add a Strategy subclass to the registry under ``cls.name``."""
    if not cls.name:
        raise ConfigError(f"strategy class {cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break btcrl
            logger.warning("cannot load strategy entry point %s: %s", ep.name, exc)
            continue
        if isinstance(obj, type) and issubclass(obj, Strategy):
            _REGISTRY.setdefault(ep.name, obj)
        else:
            logger.warning("entry point %s is not a Strategy subclass: %r", ep.name, obj)


def available_strategies() -> tuple[str, ...]:
    """Names of every registered strategy (built-in and entry points), sorted."""
    _load_entry_points()
    return tuple(sorted(_REGISTRY))


def get_strategy(name: str, **params: Any) -> Strategy:
    """A new instance of the strategy called ``name``; ConfigError naming it if unknown."""
    _load_entry_points()
    if name not in _REGISTRY:
        raise ConfigError(
            f"strategy {name!r} is unknown; known: {', '.join(available_strategies())}"
        )
    return _REGISTRY[name](**params)
