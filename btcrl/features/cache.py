"""The processed-feature cache: ``<data_dir>/features/<key>/`` holding ``arrays.npz`` and
``spec.json``. The key hashes everything that shapes the result (candles, feature config,
market, external series content, and a hash of the feature and strategy source code), so
any change recomputes. Writes are atomic: a temp directory renamed into place. A store that
cannot be written (read-only) only loses the cache: a warning, never an error."""

import functools
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from btcrl.features.spec import FeatureSet, FeatureSpec

logger = logging.getLogger(__name__)

CODE_PACKAGES = ("features", "strategies")  # btcrl/<package>/**/*.py shape every cached value


@functools.cache
def code_hash() -> str:
    """SHA-256 (first 16 hex digits) of the feature and strategy source files, so a changed
    formula never reuses a cache written by older code (no version string to bump)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 (first 20 hex digits) of the JSON of ``parts`` plus the code hash."""
    text = json.dumps({**parts, "code": code_hash()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_dir(data_dir: Path, key: str) -> Path:
    return Path(data_dir) / "features" / key


def read_cached(data_dir: Path, key: str) -> FeatureSet | None:
    """The cached FeatureSet for ``key``, or None when absent or unreadable."""
    folder = cache_dir(data_dir, key)
    if not (folder / "arrays.npz").exists():
        return None
    try:
        spec = FeatureSpec.from_json((folder / "spec.json").read_text())
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
            return FeatureSet(
                spec=spec,
                times=arrays["times"],
                prices=arrays["prices"],
                volume=arrays["volume"],
                features=arrays["features"],
                first_valid=int(meta["first_valid"]),
                raw=arrays["raw"],
                raw_names=tuple(meta["raw_names"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("ignoring unreadable feature cache %s: %s", folder, exc)
        return None


def write_cached(data_dir: Path, key: str, fs: FeatureSet) -> None:
    """Store ``fs`` under ``key`` atomically (a concurrent writer of the same key is fine)."""
    folder = cache_dir(data_dir, key)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    except OSError as exc:  # a read-only store: the features were computed, only not kept
        logger.warning("could not write feature cache %s: %s", folder, exc)
        return
    try:
        raw = fs.raw if fs.raw is not None else np.empty((len(fs), 0))
        np.savez(
            tmp / "arrays.npz",
            times=fs.times,
            prices=fs.prices,
            volume=fs.volume,
            features=fs.features,
            raw=raw,
        )
        (tmp / "spec.json").write_text(fs.spec.to_json())
        meta = {"first_valid": fs.first_valid, "raw_names": list(fs.raw_names)}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    except OSError as exc:
        logger.warning("could not write feature cache %s: %s", folder, exc)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
