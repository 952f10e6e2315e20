"""What a worker's walkforward trials share fold by fold: built once, reused trial after trial.

A fold's train and test windows (FeatureSets) are built from the candles, the data and
features config, the fold's spans and a few train and env keys; its baseline windows
(buy-and-hold, the prior) from the test window, the env and the equity they start with. A
study whose space touches none of those (the usual one: agent and reward keys) builds them
once per worker instead of once per trial. The key of each value is everything it is built
from, so a trial that samples a feature or env key builds its own, and a trial's objective
value is the same with the cache as without it (tests/tune/test_fold_cache.py).
"""

import json
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: values kept: a study's K folds, each with its train window, test window and baselines
DEFAULT_SIZE = 64


def cache_key(*parts: Any) -> str:
    """A stable text key of ``parts`` (pydantic configs dumped as JSON first)."""
    plain = [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in parts]
    return json.dumps(plain, sort_keys=True, default=str)


class FoldCache:
    """Values by key, the last ``size`` kept (the oldest dropped first); ``hits`` counts the
    values handed out again. Values are shared, never copied: callers must not mutate them
    (FeatureSets and test windows are read-only by contract)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.hits = 0
        self._values: dict[str, Any] = {}

    def get(self, key: str, build: Callable[[], T]) -> T:
        """The value under ``key``, built by ``build()`` the first time."""
        if key in self._values:
            self.hits += 1
            return self._values[key]  # type: ignore[no-any-return]
        value = build()
        if len(self._values) >= self.size:
            self._values.pop(next(iter(self._values)))
        self._values[key] = value
        return value


def cached(cache: FoldCache | None, key: str, build: Callable[[], T]) -> T:
    """``build()`` through ``cache`` when there is one."""
    return build() if cache is None else cache.get(key, build)
