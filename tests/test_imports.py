"""Imports run one way (docs/internals.md): a package imports only packages below it.

Every ``import`` and ``from ... import`` in ``btcrl/`` counts, lazy ones inside functions too.
No exceptions are listed: an edge against the order is a bug to fix, not to allow.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "btcrl"

#: higher imports lower; equal levels never import each other (agents and backtest, ...)
LEVELS: dict[str, int] = {
    "cli": 100,
    "tune": 90,
    "promote": 85,
    "walkforward": 80,
    "jobs": 70,
    "agents": 60,
    "backtest": 60,
    "policy": 50,
    "tracking": 40,
    "encoder": 35,
    "env": 30,
    "features": 25,
    "strategies": 20,
    "indicators": 15,
    "metrics": 15,
    "data": 10,
    "config": 5,
}
#: importable by every package: the exception hierarchy, the package root (__version__) and
#: the numba cache guard the command entry points and workers run
SHARED = {"errors", "", "kernel_cache"}


def package_of(module: str) -> str:
    """``btcrl.agents.training`` -> ``agents``; ``btcrl`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def from_target(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` in module ``here`` reads from."""
    if not node.level:
        return node.module or ""
    base = here.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute btcrl module) of every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, from_target(node, here, is_package)))
    return [(line, name) for line, name in found if name.split(".")[0] == "btcrl"]


def edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importer package, imported package) for imports across packages."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        source = package_of(module_name(path))
        for line, target in imported_modules(path):
            dest = package_of(target)
            if dest != source:
                out.append((str(path.relative_to(ROOT.parent)), line, source, dest))
    return out


def allowed(source: str, dest: str) -> bool:
    if dest in SHARED:
        return True
    return LEVELS[source] > LEVELS[dest]


def test_every_package_has_a_level() -> None:
    packages = {package_of(module_name(p)) for p in ROOT.rglob("*.py")} - SHARED
    assert packages <= set(LEVELS), f"give these packages a level: {packages - set(LEVELS)}"


def test_imports_run_one_way() -> None:
    bad = [
        f"{file}:{line}: {source} imports {dest}"
        for file, line, source, dest in edges()
        if not allowed(source, dest)
    ]
    assert not bad, "imports against the order:\n" + "\n".join(bad)


def test_only_tracking_imports_mlflow() -> None:
    users = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(name.split(".")[0] == "mlflow" for name in names):
                users.append(str(path.relative_to(ROOT.parent)))
    assert {u for u in users if not u.startswith("btcrl/tracking/")} == set()


@pytest.mark.parametrize(
    ("source", "dest", "ok"),
    [
        ("cli", "tune", True),
        ("agents", "backtest", False),
        ("features", "strategies", True),
        ("strategies", "features", False),
        ("config", "errors", True),
        ("data", "config", True),
    ],
)
def test_the_rule_itself(source: str, dest: str, ok: bool) -> None:
    assert allowed(source, dest) is ok


def _module_paths() -> dict[str, Path]:
    return {module_name(path): path for path in ROOT.rglob("*.py")}


def module_imports(path: Path, modules: set[str]) -> set[str]:
    """The btcrl modules ``path`` imports, lazy and TYPE_CHECKING ones included: ``from
    pkg import sub`` counts as ``pkg.sub`` when that is a module, else as ``pkg``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = from_target(node, here, is_package)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {name for name in found if name in modules and name != here}


def package_cycles() -> list[list[str]]:
    """Every import cycle among the modules of one package (its ``__init__`` included)."""
    paths = _module_paths()
    modules = set(paths)
    graph = {
        name: {
            dest
            for dest in module_imports(path, modules)
            if package_of(dest) == package_of(name) and dest != "btcrl"
        }
        for name, path in paths.items()
        if name != "btcrl"
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dest in sorted(graph.get(node, ())):
            if state.get(dest) == 1:
                cycles.append([*stack[stack.index(dest) :], dest])
            elif dest not in state:
                visit(dest)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return cycles


def test_no_import_cycle_inside_a_package() -> None:
    cycles = package_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


#: where process-wide side effects may happen: the commands and the worker start
EDGES = ("btcrl/cli/", "btcrl/jobs/processes.py")


def process_side_effects(path: Path) -> list[str]:
    """torch thread counts, environment defaults and tqdm bars set in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = ast.unparse(node.func)
            if target.endswith("set_num_threads") or target == "os.environ.setdefault":
                found.append(f"{node.lineno}: {target}")
        elif isinstance(node, ast.ImportFrom) and node.module == "tqdm":
            found += [f"{node.lineno}: tqdm" for a in node.names if a.name == "tqdm"]
        elif isinstance(node, ast.Import) and any(a.name == "tqdm" for a in node.names):
            found.append(f"{node.lineno}: tqdm")
    return found


def test_process_side_effects_live_at_the_edges() -> None:
    bad = [
        f"{rel}:{hit}"
        for path in sorted(ROOT.rglob("*.py"))
        if not (rel := str(path.relative_to(ROOT.parent))).startswith(EDGES)
        for hit in process_side_effects(path)
    ]
    assert bad == []
