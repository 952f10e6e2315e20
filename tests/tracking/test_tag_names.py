"""Tag names live in one table (btcrl/tracking/tags.py): no ``"btcrl.<word>"`` string literal
anywhere else in btcrl/, and every constant of the table is used.

A typo in a literal tag name silently disables what reads it (the in-sample check reads
``btcrl.train_start``), so a tag is a name from the table or nothing.
"""

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from btcrl.tracking import tags

ROOT = Path(__file__).resolve().parents[2] / "btcrl"
TABLE = ROOT / "tracking" / "tags.py"
#: a whole string literal (or a literal piece of an f-string) shaped like a tag name
TAG_SHAPE = re.compile(r"btcrl\.[a-z_]+(\.[a-z_]+)*\.?")
#: literals of that shape that are not tags: (path under btcrl/, literal) -> what it is
NOT_TAGS: dict[tuple[str, str], str] = {}

#: the names btcrl/ binds the table module to (``from btcrl.tracking import tags as ...``)
TABLE_ALIASES = {"tags", "tag_names", "tag"}


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every str constant, f-string pieces included."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _lazy_module_paths(tree: ast.AST) -> set[str]:
    """Module paths in a package's lazy-import table (``_WHERE = {name: "btcrl.x.y"}``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        is_table = isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
        if is_table and any(isinstance(t, ast.Name) and t.id == "_WHERE" for t in node.targets):
            found |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    return found


def _is_module(text: str) -> bool:
    """True when ``text`` names a module or package of btcrl (not a tag)."""
    if text.endswith("."):
        return False  # a prefix of tag names
    path = ROOT.parent / text.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def tag_literals(root: Path = ROOT) -> list[str]:
    """``path:line: literal`` of every tag-shaped literal outside the table."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == TABLE:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(root).as_posix()
        allowed = _lazy_module_paths(tree)
        for line, text in _literals(tree):
            if not TAG_SHAPE.fullmatch(text) or text in allowed or (rel, text) in NOT_TAGS:
                continue
            if _is_module(text):  # a lazily imported module (the CLI's command table)
                continue
            found.append(f"{rel}:{line}: {text!r}")
    return found


def test_no_tag_literal_outside_the_table() -> None:
    assert tag_literals() == []


def test_the_check_finds_a_literal_tag(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        'TAG = "btcrl.train_start"\nname = f"btcrl.walkforward.{1}"\nok = "btcrl"\n'
    )
    assert tag_literals(tmp_path) == [
        "mod.py:1: 'btcrl.train_start'",
        "mod.py:2: 'btcrl.walkforward.'",
    ]


@cache
def _names_used(root: Path = ROOT) -> set[str]:
    """Names read from the table anywhere in btcrl/ (``tags.X``, ``from ...tags import X``)."""
    used: set[str] = set()
    for path in root.rglob("*.py"):
        if path == TABLE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in TABLE_ALIASES:
                    used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "btcrl.tracking.tags":
                used |= {alias.name for alias in node.names}
    return used


@pytest.mark.parametrize(
    "name", sorted(n for n in vars(tags) if n.isupper() or n == "walkforward_span")
)
def test_every_table_entry_is_used(name: str) -> None:
    assert name in _names_used(), f"tags.{name} is set or read nowhere: delete it"
