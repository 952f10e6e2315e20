"""MLproject entry points hand their parameters to commands that accept them."""

import shlex
from pathlib import Path

import pytest
import yaml

from btcrl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "MLproject").read_text())


@pytest.mark.parametrize("entry", ["ingest", "train", "backtest", "tune", "promote", "pretrain"])
def test_entry_point_defaults_parse(entry: str) -> None:
    point = SPEC["entry_points"][entry]
    defaults = {name: str(p.get("default", "")) for name, p in point["parameters"].items()}
    # MLflow substitutes shell-quoted values, so "" arrives as an empty argument
    command = point["command"].format(**{k: shlex.quote(v) for k, v in defaults.items()})
    argv = shlex.split(command)
    assert argv[:2] == ["btcrl", entry]
    ctx = main.commands[entry].make_context(entry, argv[2:])
    assert ctx.params.get("config_path") is None  # "" means "use the defaults"


def test_entry_points_cover_the_commands() -> None:
    assert set(SPEC["entry_points"]) == {"ingest", "train", "backtest", "tune", "promote", "pretrain"}
