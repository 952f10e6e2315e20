"""The feature-cache key follows the feature and strategy source code (no version to bump)."""

import hashlib
from pathlib import Path

import btcrl
from btcrl.features import cache


def test_code_hash_covers_every_feature_and_strategy_source_file() -> None:
    root = Path(btcrl.__file__).resolve().parent
    files = sorted((root / "features").rglob("*.py")) + sorted((root / "strategies").rglob("*.py"))
    assert root / "strategies" / "builtin.py" in files and root / "features" / "cache.py" in files
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    assert cache.code_hash() == digest.hexdigest()[:16]
    assert not hasattr(cache, "FEATURES_CODE_VERSION")


def test_cache_key_changes_with_the_code(monkeypatch) -> None:  # noqa: ANN001
    parts = {"candles": "abc", "config": {"indicators": ["macd"]}}
    before = cache.cache_key(parts)
    assert before == cache.cache_key(dict(parts))  # deterministic
    monkeypatch.setattr(cache, "code_hash", lambda: "0" * 16)  # as if a formula changed
    assert cache.cache_key(parts) != before
