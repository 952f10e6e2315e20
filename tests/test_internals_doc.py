"""docs/internals.md is held to the code: the lists it can take from the code are generated
(``python tests/test_internals_doc.py`` rewrites them), the house diagram names every
package, and every backticked code name resolves.

A backticked name resolves when it is
- a repository path (``btcrl/env/engine.py``, ``tests/test_imports.py``): the file exists;
- ``btcrl.<module>[.<attribute>...]``: it imports, or it is a tag name of btcrl/tracking/tags.py;
- a config key (``env.window``, ``train.torch_threads``): a field of the config tree;
- another name (``run_training``, ``TradingEnv.ledger``): its last part is a word of the
  source under btcrl/ (greppable).
Prose in backticks (with spaces, operators or brackets: ``a_pos x m``) is not a name.
"""

import dataclasses
import importlib
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "internals.md"
sys.path.insert(0, str(REPO / "tests"))
from test_imports import LEVELS  # noqa: E402

BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S
)


def _ledger_fields() -> str:
    from btcrl.env.layout import LEDGER_FIELDS

    return ", ".join(f"`{name}`" for name in LEDGER_FIELDS) + "\n"


def _bar_events() -> str:
    from btcrl.env import engine

    events = re.findall(r"^(\d+)\. \*\*(.+?)\*\*", engine.__doc__ or "", re.M)
    return "".join(f"{number}. {title.rstrip('.')}\n" for number, title in events)


def _train_result() -> str:
    from btcrl.agents.training import TrainResult

    return ", ".join(f"`{f.name}`" for f in dataclasses.fields(TrainResult)) + "\n"


def _engine_table() -> str:
    from btcrl.env import layout
    from btcrl.env.params import CALL_SLOTS, ENGINE_TABLE, HOST_FIELDS

    slot_names = {v: k for k, v in vars(layout).items() if k.startswith("P_")}
    packed = ", ".join(f"`{f}` -> `{slot_names[s]}`" for f, (s, _) in ENGINE_TABLE.items())
    calls = ", ".join(f"`{slot_names[s]}`" for s in CALL_SLOTS)
    host = ", ".join(f"`{f}`" for f in HOST_FIELDS)
    return f"Packed: {packed}.\nFrom the call: {calls}. Host-side only: {host}.\n"


def _tags() -> str:
    from btcrl.tracking import tags

    names = [v for k, v in vars(tags).items() if k.isupper() and v.startswith("btcrl.")]
    return ", ".join(f"`{name}`" for name in names) + "\n"


GENERATED: dict[str, Callable[[], str]] = {
    "ledger-fields": _ledger_fields,
    "bar-events": _bar_events,
    "train-result": _train_result,
    "engine-table": _engine_table,
    "tags": _tags,
}


def regenerate(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""

    def fill(match: re.Match[str]) -> str:
        return match.group(1) + GENERATED[match.group("name")]() + match.group(4)

    return BLOCK.sub(fill, text)


def test_generated_blocks_match_the_code() -> None:
    text = DOC.read_text()
    assert {m.group("name") for m in BLOCK.finditer(text)} == set(GENERATED)
    assert regenerate(text) == text, "run: .venv/bin/python tests/test_internals_doc.py"


def test_the_house_names_every_package() -> None:
    house = DOC.read_text().split("```")[1]
    heads = [re.split(r"\s{2,}", line.strip())[0] for line in house.splitlines()]
    drawn = {word.strip() for head in heads for word in head.split("|")}
    assert set(LEVELS) - drawn == set(), "packages missing from the house diagram"


@cache
def _source_words() -> frozenset[str]:
    text = "\n".join(p.read_text() for p in (REPO / "btcrl").rglob("*.py"))
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


@cache
def _config_keys() -> frozenset[str]:
    from btcrl.config import flatten_config, load_config

    keys = set(flatten_config(load_config()))
    return frozenset(keys | {k.rsplit(".", 1)[0] for k in keys})


def _tag_values() -> set[str]:
    from btcrl.tracking import tags

    return {v for k, v in vars(tags).items() if k.isupper() and isinstance(v, str)}


def _imports(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


PATH_ROOTS = ("btcrl/", "docs/", "tests/", "configs/", "benchmarks/")
PATH_ENDS = (".py", ".md", ".yaml", ".cfg", ".toml")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def unresolved(name: str) -> str | None:
    """Why ``name`` does not resolve (None when it does or is not a code name)."""
    name = " ".join(name.split())
    call = re.match(r"([A-Za-z_][\w.]*)\(", name)
    name = call.group(1) if call else name  # a call or a signature: its callee
    if name.startswith(PATH_ROOTS) or (name.endswith(PATH_ENDS) and "/" in name):
        return None if (REPO / name).exists() else "no such file"
    if not NAME.fullmatch(name):
        return None  # prose, an expression, a metric or artifact name
    if name.startswith("btcrl."):
        return None if name in _tag_values() or _imports(name) else "does not import"
    if "." in name and name.split(".")[0] in _config_keys():
        return None if name in _config_keys() else "not a config key"
    return None if name.split(".")[-1] in _source_words() else "not in btcrl/"


def code_names(text: str) -> list[str]:
    """Every inline code span after the house diagram (one may wrap a line)."""
    return [m.group(1) for m in re.finditer(r"`([^`]+)`", text.split("```", 2)[-1])]


def test_every_code_name_resolves() -> None:
    bad = {n: why for n in code_names(DOC.read_text()) if (why := unresolved(n))}
    assert bad == {}


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("btcrl.env.params.ENGINE_TABLE", True),
        ("btcrl.env.params.NO_SUCH", False),
        ("btcrl.train_start", True),
        ("btcrl/env/engine.py", True),
        ("btcrl/env/episodes.py", False),
        ("env.window", True),
        ("env.no_such_field", False),
        ("run_training(config)", True),
        ("run_trainings", False),
        ("a_pos x m", True),
    ],
)
def test_the_resolver_itself(name: str, ok: bool) -> None:
    assert (unresolved(name) is None) is ok


if __name__ == "__main__":
    DOC.write_text(regenerate(DOC.read_text()))
