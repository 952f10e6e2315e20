"""Storage URLs: defaults, early one-line errors, heartbeat settings."""

import re
from pathlib import Path

import pytest

from btcrl.config import TuneConfig
from btcrl.errors import ConfigError
from btcrl.jobs.storage import default_storage_url, make_storage, redact_url, resolve_storage_url


def test_default_url_is_a_sqlite_file_under_studies(tmp_path: Path) -> None:
    url = default_storage_url("abc", tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/studies/abc.db"


def test_default_storage_is_created_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = resolve_storage_url(TuneConfig(study="s1"))
    assert url.endswith("/studies/s1.db")
    assert not (tmp_path / "studies").exists()  # checking creates nothing (issue 23.6)
    make_storage(url, TuneConfig(study="s1"))
    assert (tmp_path / "studies" / "s1.db").is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not an RDB URL"),
        ("redis://localhost/0", "uses 'redis'"),
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("postgresql://u:secret@127.0.0.1:1/db", "cannot connect to storage"),
    ],
)
def test_bad_storage_url_is_a_one_line_error(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        resolve_storage_url(TuneConfig(storage=url))
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "secret" not in message  # passwords never reach logs


def test_redact_hides_password() -> None:
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_storage_has_heartbeat_and_retry(tmp_path: Path) -> None:
    config = TuneConfig(heartbeat_interval=7, grace_period=9, max_retry=1)
    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}", config)
    assert storage.heartbeat_interval == 7
    assert storage.grace_period == 9
    assert storage.get_heartbeat_stale_trial_callback() is not None


def _open_after(barrier, url: str) -> None:  # noqa: ANN001
    barrier.wait()
    make_storage(url, TuneConfig())


def test_workers_opening_one_fresh_storage_at_once_all_succeed(tmp_path: Path) -> None:
    """Several processes create the same fresh storage together (workers, machines): one
    creates the schema, the others must open it instead of failing on the race."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    url = f"sqlite:///{tmp_path / 'race.db'}"
    barrier = ctx.Barrier(6)
    procs = [ctx.Process(target=_open_after, args=(barrier, url)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * 6
