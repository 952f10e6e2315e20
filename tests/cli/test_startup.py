"""Start-up: ``btcrl --help`` imports no command, the help table matches the commands, and
the garbage collector is frozen once after a command's imports (btcrl.jobs.startup)."""

import gc
import subprocess
import sys

import pytest
from click.testing import CliRunner

from btcrl.cli import COMMANDS, main
from btcrl.jobs import startup


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_table_matches_each_command(name: str) -> None:
    from click.utils import make_default_short_help

    command = main.commands[name]
    assert command.name == name
    for limit in range(20, 75, 5):
        assert make_default_short_help(COMMANDS[name][1], limit) == command.get_short_help_str(
            limit
        ), (name, limit)


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\nfrom btcrl.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('btcrl.cli.', 'torch', 'pandas'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "train" in out  # the help was printed
    assert out.strip().splitlines()[-1] == "[]"


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert all(f"  {name} " in result.output for name in COMMANDS)


def test_freeze_after_imports_freezes_once_and_restores_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(startup, "_frozen", False)
    freezes: list[int] = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1) or real_freeze())
    threshold = gc.get_threshold()
    try:
        startup.freeze_after_imports(["json"])
        assert gc.isenabled() and gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == startup.GEN0_THRESHOLD
        startup.freeze_after_imports(["json"])
        # once per process (the count of frozen objects itself may shrink as they are freed)
        assert freezes == [1]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_switched_off_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "_frozen", False)
    monkeypatch.setenv(startup.FREEZE_ENV, "0")
    gc.unfreeze()
    threshold = gc.get_threshold()
    startup.freeze_after_imports(["json"])
    with startup.gc_paused():
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold


def test_gc_paused_restores_the_collector() -> None:
    with startup.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
