"""Drop numba's on-disk kernel cache when any btcrl source of a compiled kernel changed.

numba keys a cached kernel on the modification stamp of the file that defines it only. The
engine's ``step_range`` inlines functions and compile-time constants from ``orders.py``,
``layout.py`` and ``rewards.py``, and feature kernels call kernels of other modules, so an edit
(or a ``git pull``) that touches only those files would leave a stale kernel on disk that
numba keeps loading: silently wrong results. On import, btcrl hashes the source of every
module that uses numba and, when the hash differs from the one stored beside the cache,
deletes btcrl's ``*.nbi`` / ``*.nbc`` files so that the kernels compile afresh.
"""

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP = PACKAGE / "__pycache__" / "numba-sources.sha256"


def sources_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over the path and text of every ``*.py`` under ``package`` that mentions numba."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + text)
    return digest.hexdigest()


def drop_stale_kernels(package: Path = PACKAGE, stamp: Path = STAMP) -> bool:
    """Delete the cached kernels under ``package`` when its numba sources changed since the
    stamp was written; True when it deleted. A read-only install is left alone (numba then
    caches elsewhere, and an upgrade rewrites every file)."""
    digest = sources_digest(package)
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        for cached in (*package.rglob("*.nbi"), *package.rglob("*.nbc")):
            cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        return False
    return True
