"""One way to replace a file: write a private temp file beside it, fsync, rename over it.

A reader sees the old or the new file, never a torn one; two writers never share a temp
name (``tempfile.mkstemp``); a failed write (full disk, read-only folder, a crash) leaves
the old file as it was and removes its temp file (a killed process leaves a ``.tmp-*``
file that ``sweep_temp_files`` removes later). OS errors become one-line ``DataError``s
that name the path and the reason.
"""

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from btcrl.errors import DataError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"


def atomic_write(
    path: Path,
    write: Callable[[Path], object],
    *,
    before_replace: Callable[[], None] | None = None,
    what: str = "file",
) -> None:
    """Call ``write(temp_path)``, fsync the temp file, run ``before_replace``, rename it onto
    ``path`` and fsync the folder. Raises DataError (one line) on OS errors."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
        os.close(handle)
        Path(name).chmod(_created_mode())  # mkstemp's 0600 would lock the team out
    except OSError as exc:
        raise DataError(describe_os_error(exc, path, what)) from None
    tmp = Path(name)
    try:
        write(tmp)
        _fsync(tmp)
        if before_replace is not None:
            before_replace()
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(describe_os_error(exc, path, what)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        _fsync(path.parent)


def _created_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str, *, what: str = "file") -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what=what)


def sweep_temp_files(folder: Path) -> int:
    """Remove temp files a killed writer left in ``folder``; the number removed.

    Call it only while holding the folder's write lock (a live writer's file would go)."""
    removed = 0
    for stale in Path(folder).glob(f"{TEMP_PREFIX}*"):
        log.info("removing %s left by an interrupted write", stale)
        with contextlib.suppress(OSError):
            stale.unlink()
            removed += 1
    return removed


def describe_os_error(exc: OSError, path: Path, what: str = "file") -> str:
    """One line for an OS error while writing ``path``: full disk and read-only named plainly."""
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device; the old version is unchanged"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = "the folder is read-only (write access is needed to change it)"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, NotADirectoryError):
        reason = "a parent of it is a file, not a folder"
    else:
        reason = exc.strerror or str(exc).splitlines()[0]
    return f"cannot write {what} {path}: {reason}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
