"""The numba cache guard: a changed kernel source drops every cached kernel, once."""

from pathlib import Path

from btcrl.kernel_cache import drop_stale_kernels, sources_digest


def _package(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    (package / "env" / "__pycache__").mkdir(parents=True)
    (package / "env" / "engine.py").write_text("from numba import njit\n")
    (package / "env" / "orders.py").write_text("import numba\nLEVEL = 1\n")
    (package / "env" / "plain.py").write_text("X = 1\n")
    return package


def _cached(package: Path) -> list[Path]:
    files = [package / "env" / "__pycache__" / n for n in ("engine.f-1.nbi", "engine.f-1.nbc")]
    for path in files:
        path.write_bytes(b"kernel")
    return files


def test_an_edit_of_an_inlined_module_drops_the_cached_kernels(tmp_path: Path) -> None:
    package = _package(tmp_path)
    stamp = package / "__pycache__" / "stamp"
    assert drop_stale_kernels(package, stamp)  # first run: no stamp yet
    cached = _cached(package)
    assert not drop_stale_kernels(package, stamp)  # unchanged sources keep the cache
    assert all(p.exists() for p in cached)
    (package / "env" / "plain.py").write_text("X = 2\n")  # no numba in it: not a kernel source
    assert not drop_stale_kernels(package, stamp)
    (package / "env" / "orders.py").write_text("import numba\nLEVEL = 2\n")
    assert drop_stale_kernels(package, stamp)
    assert not any(p.exists() for p in cached)
    assert stamp.read_text() == sources_digest(package)


def test_a_stamp_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "blocker").write_text("a file where the stamp's folder should be")
    stamp = package / "blocker" / "stamp"
    assert drop_stale_kernels(package, stamp) is False  # nothing raised
    assert not stamp.exists()
