"""Every ``pytest.raises`` in tests/ names the message it is about (``match=``): a bare one
passes on any exception of that type, including one raised for another reason."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _bare_raises(source: str) -> list[int]:
    """Lines of the ``pytest.raises(...)`` calls in ``source`` without ``match=``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        func = node.func if isinstance(node, ast.Call) else None
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "raises"
            and isinstance(func.value, ast.Name)
            and func.value.id == "pytest"
            and not any(k.arg == "match" for k in node.keywords)
        ):
            found.append(node.lineno)
    return found


def test_the_scan_finds_a_bare_raises() -> None:
    source = "import pytest\nwith pytest.raises(ValueError):\n    pass\n"
    assert _bare_raises(source) == [2]
    assert _bare_raises(source.replace("ValueError)", "ValueError, match='x')")) == []


def test_every_pytest_raises_has_a_match() -> None:
    bare = [
        f"{path.relative_to(TESTS)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in _bare_raises(path.read_text())
    ]
    assert bare == []
