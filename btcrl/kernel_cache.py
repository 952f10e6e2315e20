"""Drop numba's on-disk kernel cache when any btcrl source of a compiled kernel changed.

numba keys a cached kernel on the modification stamp of the file that defines it only. The
engine's ``step_range`` inlines functions and compile-time constants from ``orders.py``,
``layout.py`` and ``rewards.py``, and feature kernels call kernels of other modules, so an edit
(or a ``git pull``) that touches only those files would leave a stale kernel on disk that
numba keeps loading: silently wrong results. :data:`KERNEL_MODULES` lists every module whose
source a compiled kernel is made of; when the hash of their sources differs from the one stored
beside the cache, :func:`drop_stale_kernels` deletes btcrl's ``*.nbi`` / ``*.nbc`` files so
that the kernels compile afresh. The command entry points call it (``btcrl`` before any
command, each spawned tune or walk-forward worker at its start, the test session), never an
``import btcrl``: importing a package deletes no files.
"""

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP = PACKAGE / "__pycache__" / "numba-sources.sha256"

#: every module (path under ``btcrl/``) that defines a compiled kernel or whose functions and
#: constants a kernel inlines; tests/test_kernel_cache.py holds it against the imports
KERNEL_MODULES = (
    "env/engine.py",
    "env/episode_runner.py",
    "env/layout.py",
    "env/mlp.py",
    "env/orders.py",
    "env/params.py",
    "env/rewards.py",
    "features/hmm.py",
    "features/kernels.py",
    "features/volatility.py",
    "indicators.py",
    "strategies/kernels.py",
)


def sources_digest(package: Path = PACKAGE, modules: tuple[str, ...] = KERNEL_MODULES) -> str:
    """SHA-256 over the path and text of each of ``modules`` under ``package`` (a missing
    module hashes as absent, so deleting one counts as a change)."""
    digest = hashlib.sha256()
    for name in modules:
        path = package / name
        text = path.read_bytes() if path.is_file() else b"\0missing"
        digest.update(name.encode() + b"\0" + text)
    return digest.hexdigest()


def drop_stale_kernels(
    package: Path = PACKAGE, stamp: Path = STAMP, modules: tuple[str, ...] = KERNEL_MODULES
) -> bool:
    """Delete the cached kernels under ``package`` when the sources of ``modules`` changed
    since the stamp was written; True when it deleted. A read-only install is left alone
    (numba then caches elsewhere, and an upgrade rewrites every file)."""
    digest = sources_digest(package, modules)
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
