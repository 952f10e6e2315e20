"""A tracking store that fails (issue 23.1): one line naming the store and the cause, exit 1,
no partial artifact, the run FAILED with the reason, a bounded wait for a server that is down,
and no credential in any of it (issue 23.2)."""

import errno
import os
import shutil
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.cli.common import TRACKING_HTTP_ENV

PLANTED = "Pl4nted-s3cret"
BACKTEST = ["backtest", "--policy", "buy_and_hold", "--start", "2025-02-01", "--end", "2025-02-28"]


def _run(args: list[str], data_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: tracking store "), stderr
    return lines[0]


def test_a_server_that_is_down_fails_in_one_line_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://trader:{PLANTED}@127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the wait itself: below
    code, out, err = _run(["ingest", "--source", "sample", "--no-features"], tmp_path / "data")
    line = _one_error_line(err)
    assert code == 1
    assert "http://trader:***@127.0.0.1:1" in line and "cannot reach it" in line
    assert PLANTED not in out + err


def test_the_cli_bounds_the_wait_for_a_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's defaults retry 7 times with a backoff factor of 2 (minutes); the CLI sets
    bounded values unless the user set their own."""
    for name in TRACKING_HTTP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    CliRunner().invoke(main, ["ingest", "--help"])
    assert int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) <= 3
    assert float(os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"]) <= 1
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"  # the user's own value stays


@pytest.mark.parametrize("kind", ["directory", "file_as_folder", "lock_unopenable"])
def test_a_sqlite_uri_that_names_no_database_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A directory, a path through a file, and a schema lock that cannot be opened (what a
    read-only store gives FileLock; root ignores permissions, a folder in its place does not)."""
    if kind == "directory":
        target = tmp_path / "store"
        target.mkdir()
    elif kind == "lock_unopenable":
        target = tmp_path / "mlflow.db"
        (tmp_path / "mlflow.db.lock").mkdir()
    else:
        (tmp_path / "afile").write_text("x")
        target = tmp_path / "afile" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{target}")
    code, _, err = _run(["ingest", "--source", "sample", "--no-features"], tmp_path / "data")
    line = _one_error_line(err)
    assert code == 1 and f"sqlite:///{target}" in line


def test_a_full_disk_fails_the_run_in_one_line_and_leaves_no_partial_artifact(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artifact root fills up half-way through the backtest's report: the run ends FAILED
    with the reason, and holds none of the files it could not finish."""
    artifacts = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
    copy2 = shutil.copy2

    def full_disk(src: str, dst: str, **kwargs: object) -> object:
        if str(artifacts) in str(dst) and Path(src).stat().st_size > 10_000:
            Path(dst).write_bytes(Path(src).read_bytes()[:4096])  # what fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return copy2(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copy2", full_disk)
    code, _, err = _run(BACKTEST, tmp_path / "data")
    line = _one_error_line(err)
    assert code == 1 and "No space left on device" in line
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "FAILED"
    assert "No space left on device" in run.data.tags["btcrl.end_reason"]
    left = Path(run.info.artifact_uri.removeprefix("file://"))
    assert not left.exists() or [p for p in left.rglob("*") if p.is_file()] == []
