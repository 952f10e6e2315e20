"""Bad inputs and hostile disks become one-line errors (exit 1); the store is never harmed.

Each test here failed before its fix (issue 12.1): impossible dates, a file as ``--data-dir``
or under ``--out``, a read-only store (readers need no lock; writers say read-only), a full
disk during a store write.
"""

import builtins
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import DataConfig, load_config
from btcrl.data import ingest_candles, load_candles
from btcrl.errors import ConfigError, DataError

SAMPLE_SPAN = ["--start", "2025-02-01", "--end", "2025-03-31"]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    return result.exit_code, result.stdout, result.stderr


def _one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0] and "Traceback" not in err


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: bytes and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """``read_only(folder)``: make ``folder`` unwritable. chmod does it for a normal user;
    root ignores file modes, so for root every write below ``folder`` made through
    ``os.open``, ``os.mkdir`` or ``open`` also fails with EACCES, as on a read-only mount."""
    roots: list[Path] = []

    def inside(path: Any) -> bool:
        try:
            target = Path(os.fsdecode(path)).resolve()
        except (TypeError, ValueError):
            return False
        return any(target.is_relative_to(root) for root in roots)

    def refuse(path: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    if os.geteuid() == 0:
        real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

        def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & writing and inside(path):
                refuse(path)
            return real_open(path, flags, *args, **kwargs)

        def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if inside(path):
                refuse(path)
            real_mkdir(path, *args, **kwargs)

        def fake_builtin_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            path_like = isinstance(file, str | bytes | os.PathLike)
            if path_like and set(mode) & set("wax+") and inside(file):
                refuse(file)
            return real_builtin_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        monkeypatch.setattr(builtins, "open", fake_builtin_open)
    changed: list[tuple[Path, int]] = []

    def make(folder: Path) -> None:
        roots.append(folder.resolve())
        for path in [folder, *folder.rglob("*")]:
            changed.append((path, path.stat().st_mode))
            path.chmod(path.stat().st_mode & ~0o222)

    yield make
    for path, mode in reversed(changed):
        path.chmod(mode)


def test_impossible_dates_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config key data.start='2024-13-45' is invalid"):
        load_config(None, ["data.start=2024-13-45"])
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("data:\n  start: 2024-02-30\n")
    with pytest.raises(ConfigError, match=r"config key data.start='2024-02-30' is invalid: .*day"):
        load_config(config_file)
    assert str(load_config(None, ["data.end=2024-02-29"]).data.end) == "2024-02-29"  # leap day
    code, _, err = _cli("ingest", "--data-dir", str(tmp_path), "--start", "2024-13-45")
    _one_line_error(code, err, "config key data.start='2024-13-45' is invalid")
    code, _, err = _cli("ingest", "--data-dir", str(tmp_path), "--config", str(config_file))
    _one_line_error(code, err, "config key data.start='2024-02-30' is invalid")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    code, _, err = _cli("ingest", "--data-dir", str(afile), "--no-features")
    _one_line_error(code, err, f"data.data_dir='{afile}' is invalid: is a file, not a directory")


def test_features_out_under_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = afile / "features.parquet"
    data_dir = str(tmp_path / "d")
    code, _, err = _cli("features", "--data-dir", data_dir, *SAMPLE_SPAN, "--out", str(out))
    _one_line_error(code, err, f"cannot write feature table {out}: a parent of it is a file")


def test_reading_a_read_only_store_takes_no_lock(
    tmp_path: Path, read_only: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    config = DataConfig(data_dir=data_dir, start="2025-02-01", end="2025-03-31")
    ingest_candles(config)
    for lock in data_dir.rglob("*.lock"):
        lock.unlink()
    before = _tree(data_dir)
    read_only(data_dir)
    frame = load_candles(config)
    assert len(frame) == 59 * 24 - 6  # the sample ends 2025-03-31 17:00
    assert frame.index[0] == pd.Timestamp("2025-02-01", tz="UTC")
    out = tmp_path / "features.parquet"
    code, stdout, err = _cli(
        "features", "--data-dir", str(data_dir), *SAMPLE_SPAN, "--out", str(out)
    )
    assert code == 0, err
    assert out.exists() and "wrote" in stdout
    assert "could not write feature cache" in caplog.text  # computed, only not kept
    assert _tree(data_dir) == before  # no lock file, nothing written or touched


def test_writing_to_a_read_only_store_says_so(
    tmp_path: Path, read_only: Callable[[Path], None]
) -> None:
    data_dir = tmp_path / "data"
    ingest_candles(DataConfig(data_dir=data_dir))
    before = _tree(data_dir)
    read_only(data_dir)
    csv = Path(__file__).parent / "binance_export_1h.csv"
    with pytest.raises(DataError, match=r"candle store lock .*\.lock: the folder is read-only"):
        ingest_candles(DataConfig(data_dir=data_dir, source=f"csv:{csv}"))
    code, _, err = _cli(
        "ingest", "--data-dir", str(data_dir), "--source", f"csv:{csv}", "--no-features",
        "--set", "tracking.enabled=false",
    )  # fmt: skip
    _one_line_error(code, err, "the folder is read-only")
    assert _tree(data_dir) == before


def test_full_disk_during_an_ingest_keeps_the_old_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(__file__).parent / "binance_export_1h.csv"
    csv = tmp_path / "export.csv"
    lines = source.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:49]))  # the first 48 bars
    config = DataConfig(data_dir=tmp_path / "data", source=f"csv:{csv}")
    assert ingest_candles(config).rows == 48
    before = _tree(tmp_path / "data")
    csv.write_text("".join(lines))  # 24 bars more: the store must be rewritten

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("btcrl.data.store.pq.write_table", disk_full)
    with pytest.raises(DataError, match="no space left on device; the old version is unchanged"):
        ingest_candles(config)
    after = _tree(tmp_path / "data")
    after.pop("candles/csv-export/BTC-USDT/1h.lock", None)
    before.pop("candles/csv-export/BTC-USDT/1h.lock", None)
    assert after == before
    code, _, err = _cli(
        "ingest", "--data-dir", str(tmp_path / "data"), "--source", f"csv:{csv}",
        "--no-features", "--set", "tracking.enabled=false",
    )  # fmt: skip
    _one_line_error(code, err, "no space left on device")
    monkeypatch.undo()
    assert len(load_candles(config)) == 72  # the next ingest, with room, completes
