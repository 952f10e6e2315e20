"""A tune that lost a worker says which one and why before it exits 1 (issue 23.9)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import btcrl.tune
from btcrl.cli import main
from btcrl.cli.common import worker_failures
from btcrl.tune import StudyResult


def test_worker_failures_name_the_worker_and_the_signal() -> None:
    assert worker_failures([0, 0]) == []
    assert worker_failures([0, -9]) == ["worker 1 of 2 was killed by SIGKILL"]
    assert worker_failures([1, 130]) == [
        "worker 0 of 2 exited with code 1",
        "worker 1 of 2 was interrupted",
    ]


def test_a_lost_worker_is_said_before_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The study itself is stubbed (its workers are tested in tests/tune): what is checked is
    what the command says and returns when a worker process was killed."""
    result = StudyResult("s", "sqlite:///x.db", "run1", 2, 0, worker_exit_codes=[0, -9], ran=[0])
    monkeypatch.setattr(btcrl.tune, "run_study", lambda *a, **k: result)
    out = CliRunner().invoke(main, ["tune", "--study", "s", "--data-dir", str(tmp_path)])
    assert out.exit_code == 1
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith("error: worker 1 of 2 was killed by SIGKILL; ")
    )
