"""Under CI=true (``.ci/run``) a skip that hides an untested claim fails the run: missing data,
and a ``postgres`` test whose server ``.ci/run`` could not start (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
SKIPPING = """
import pytest


@pytest.mark.postgres
def test_needs_postgres():
    pytest.skip("BTCRL_TEST_POSTGRES_URL is not set (.ci/run starts a local PostgreSQL)")


def test_skips_for_another_reason():
    pytest.skip("not on this platform")
"""


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_skips.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[-1] if done.stdout else done.stderr


@pytest.mark.parametrize(("ci", "summary"), [(None, "2 skipped"), ("true", "1 failed, 1 skipped")])
def test_a_postgres_skip_fails_under_ci(tmp_path: Path, ci: str | None, summary: str) -> None:
    assert summary in _run(tmp_path, ci)
