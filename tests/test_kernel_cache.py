"""The numba cache guard: a changed kernel source drops every cached kernel, once; the list
of kernel modules holds every module that compiles or inlines into a kernel."""

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

import btcrl.cli
from btcrl.kernel_cache import KERNEL_MODULES, PACKAGE, drop_stale_kernels, sources_digest

MODULES = ("env/engine.py", "env/orders.py")
#: btcrl modules a kernel module imports for plain Python only (types, errors, config,
#: column specs): no kernel reads their code or constants
NOT_COMPILED = (
    "errors.py",
    "config/",
    "data/",
    "features/prior.py",
    "features/spec.py",
)


def _package(tmp_path: Path) -> Path:
    package = tmp_path / "pkg"
    (package / "env" / "__pycache__").mkdir(parents=True)
    (package / "env" / "engine.py").write_text("from numba import njit\n")
    (package / "env" / "orders.py").write_text("LEVEL = 1\n")  # inlined, no numba in its text
    (package / "env" / "plain.py").write_text("import numba\n")  # not listed
    return package


def _cached(package: Path) -> list[Path]:
    files = [package / "env" / "__pycache__" / n for n in ("engine.f-1.nbi", "engine.f-1.nbc")]
    for path in files:
        path.write_bytes(b"kernel")
    return files


def test_an_edit_of_a_listed_module_drops_the_cached_kernels(tmp_path: Path) -> None:
    package = _package(tmp_path)
    stamp = package / "__pycache__" / "stamp"
    assert drop_stale_kernels(package, stamp, MODULES)  # first run: no stamp yet
    cached = _cached(package)
    assert not drop_stale_kernels(package, stamp, MODULES)  # unchanged sources keep the cache
    assert all(p.exists() for p in cached)
    (package / "env" / "plain.py").write_text("import numba\nX = 2\n")  # not a listed module
    assert not drop_stale_kernels(package, stamp, MODULES)
    (package / "env" / "orders.py").write_text("LEVEL = 2\n")  # the word numba is not needed
    assert drop_stale_kernels(package, stamp, MODULES)
    assert not any(p.exists() for p in cached)
    assert stamp.read_text() == sources_digest(package, MODULES)
    (package / "env" / "orders.py").unlink()  # a module gone is a change too
    assert drop_stale_kernels(package, stamp, MODULES)


def test_a_stamp_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "blocker").write_text("a file where the stamp's folder should be")
    stamp = package / "blocker" / "stamp"
    assert drop_stale_kernels(package, stamp, MODULES) is False  # nothing raised
    assert not stamp.exists()


def _btcrl_imports(path: Path) -> set[str]:
    """Paths under btcrl/ of the btcrl modules ``path`` imports (top level)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("btcrl."):
            rel = Path(*node.module.split(".")[1:])
            found.add(
                f"{rel.as_posix()}/__init__.py"
                if (PACKAGE / rel).is_dir()
                else f"{rel.as_posix()}.py"
            )
    return found


def _imports_numba(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        module = node.module if isinstance(node, ast.ImportFrom) else None
        if module == "numba" or (module or "").startswith("numba.") or "numba" in names:
            return True
    return False


def test_every_module_importing_numba_is_a_kernel_module() -> None:
    using = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if _imports_numba(path)
    }
    assert using, "no module imports numba: the scan is broken"
    assert using - set(KERNEL_MODULES) == set()
    assert all((PACKAGE / name).is_file() for name in KERNEL_MODULES)


def test_what_a_kernel_module_imports_from_btcrl_is_listed_or_plain_python() -> None:
    for name in KERNEL_MODULES:
        for imported in _btcrl_imports(PACKAGE / name):
            if imported.startswith(NOT_COMPILED):
                continue
            assert imported in KERNEL_MODULES, f"{name} imports {imported}: list it"


def test_the_command_runs_the_guard_and_import_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(btcrl.cli, "drop_stale_kernels", lambda: calls.append(1))
    out = CliRunner().invoke(btcrl.cli.main, ["backtest", "--help"])
    assert out.exit_code == 0, out.output
    assert calls == [1]
    init = (PACKAGE / "__init__.py").read_text()
    assert "drop_stale_kernels" not in init  # importing btcrl deletes no files
