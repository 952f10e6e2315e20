"""No function in btcrl/ runs over 60 lines (its ``def`` line to its last line, docstring
included): a longer one holds two ideas. Measured with ast, nested functions included."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "btcrl"
MAX_LINES = 60


def long_functions(root: Path = ROOT, limit: int = MAX_LINES) -> list[str]:
    """``path:line name (N lines)`` of every function over ``limit`` lines under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    rel = path.relative_to(root.parent)
                    found.append(f"{rel}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_over_60_lines() -> None:
    assert long_functions() == []


def test_the_check_counts_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path) == [f"{tmp_path.name}/m.py:5 long (61 lines)"]
