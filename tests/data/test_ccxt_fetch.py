"""The real ccxt ``binance`` client against a fake Binance on 127.0.0.1 (offline)."""

import io
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from fake_binance import FakeBinance

from btcrl.cli.common import progress_bar
from btcrl.config import DataConfig
from btcrl.data import ingest_candles, load_candles, open_store
from btcrl.data.ccxt_source import requested_range
from btcrl.errors import ConfigError, DataError, ExchangeError

Factory = Callable[..., DataConfig]
H = 3_600_000


def _ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def _starts(fake: FakeBinance, skip: int = 0) -> list[int]:
    return [int(params["startTime"]) for params in fake.klines_requests()[skip:]]


def test_full_download_equals_csv(
    fake_binance: FakeBinance, ccxt_config: Factory, binance_1h: pd.DataFrame
) -> None:
    config = ccxt_config(start="2023-01-01", end="2023-06-30")
    result = ingest_candles(config)
    pd.testing.assert_frame_equal(load_candles(config), binance_1h, check_freq=False)
    assert result.rows == 4_343 and result.gaps == 1 and result.missing_bars == 1
    pages = len(fake_binance.klines_requests())
    assert pages == result.requests - 1 and 5 <= pages <= 7  # 1,000 bars a page, + markets
    # full pages except at the end
    assert {p["limit"] for p in fake_binance.klines_requests()[:4]} == {"1000"}
    # the real gap (2023-03-24 13:00) is known: asking again fetches and rewrites nothing
    before = _tree(config.data_dir)
    again = ingest_candles(config)
    assert again.requests == 0 and not again.written and _tree(config.data_dir) == before
    assert len(fake_binance.klines_requests()) == pages


def test_widening_fetches_only_the_missing_parts(
    fake_binance: FakeBinance,
    ccxt_config: Factory,
    binance_1h: pd.DataFrame,
    capfd: pytest.CaptureFixture[str],
) -> None:
    february = ingest_candles(ccxt_config(start="2023-02-01", end="2023-02-28"))
    april = ingest_candles(ccxt_config(start="2023-04-01", end="2023-04-30"))
    assert february.rows == 672 and april.rows == 672 + 720 and april.gaps == 0
    seen = len(fake_binance.klines_requests())
    wide = ccxt_config(start="2023-01-20", end="2023-05-10")
    result = ingest_candles(wide, progress=lambda done, total: None)
    assert capfd.readouterr().err == ""  # the library draws no bar: the CLI does
    # before February, the March hole, after April: one page each, nothing else
    assert _starts(fake_binance, seen) == [
        _ms("2023-01-20"),
        _ms("2023-03-01"),
        _ms("2023-05-01"),
    ]
    assert result.fetched == [
        (_ms("2023-01-20"), _ms("2023-01-31 23:00")),
        (_ms("2023-03-01"), _ms("2023-03-31 23:00")),
        (_ms("2023-05-01"), _ms("2023-05-10 23:00")),
    ]
    assert result.new_rows == 12 * 24 + (31 * 24 - 1) + 10 * 24  # March lacks 2023-03-24 13:00
    expected = binance_1h.loc["2023-01-20":"2023-05-10"]
    pd.testing.assert_frame_equal(load_candles(wide), expected, check_freq=False)


def test_transient_faults_are_retried(
    fake_binance: FakeBinance, ccxt_config: Factory, binance_1h: pd.DataFrame
) -> None:
    fake_binance.timeout_sleep_s = 0.8
    fake_binance.faults.extend(["429", "500", "timeout", "503", "short", "short", "502"])
    config = ccxt_config(start="2023-01-01", end="2023-04-30", timeout_ms=300, max_retries=4)
    result = ingest_candles(config)
    expected = binance_1h.loc["2023-01-01":"2023-04-30"]
    pd.testing.assert_frame_equal(load_candles(config), expected, check_freq=False)
    assert result.rows == len(expected)
    assert result.requests == len(fake_binance.klines_requests()) + 1  # + load_markets


def test_permanent_fault_leaves_store_byte_identical(
    fake_binance: FakeBinance, ccxt_config: Factory
) -> None:
    ingest_candles(ccxt_config(start="2023-02-01", end="2023-02-28"))
    config = ccxt_config(start="2023-01-01", end="2023-03-31", max_retries=2)
    before = _tree(config.data_dir)
    fake_binance.faults.append("short")  # the first page arrives, then the exchange fails
    fake_binance.always = None
    fake_binance.faults.extend(["503"] * 50)
    with pytest.raises(ExchangeError, match=r"binance failed 3 time\(s\)") as info:
        ingest_candles(config)
    message = str(info.value)
    assert "failed 3 time(s)" in message and "ExchangeNotAvailable" in message
    assert "not fetched: BTC/USDT 1h from 2023-01-" in message and "\n" not in message
    assert _tree(config.data_dir) == before


def test_bad_symbol_timeframe_exchange_fail_at_once(
    fake_binance: FakeBinance, ccxt_config: Factory
) -> None:
    with pytest.raises(
        ConfigError, match="symbol 'BTC/USDX' is not listed on binance; close matches: BTC/USDT"
    ):
        ingest_candles(ccxt_config(symbol="BTC/USDX", start="2024-01-01", end="2024-01-02"))
    with pytest.raises(
        ConfigError, match="timeframe '7h' is not offered by binance; choose one of .*1h"
    ):
        ingest_candles(ccxt_config(timeframe="7h", start="2024-01-01", end="2024-01-02"))
    with pytest.raises(
        ConfigError, match="exchange 'binanse' is unknown to ccxt; did you mean binance"
    ):
        ingest_candles(ccxt_config(exchange="binanse", start="2024-01-01", end="2024-01-02"))
    assert fake_binance.klines_requests() == []  # none of them downloaded anything
    assert not open_store(ccxt_config(symbol="BTC/USDX")).path.exists()


def test_open_ended_tail_is_asked_again(fake_binance: FakeBinance, ccxt_config: Factory) -> None:
    config = ccxt_config(start="2023-06-29", end=None)  # the fake's data end 2023-06-30 23:00
    first = ingest_candles(config)
    assert first.rows == 48 and first.manifest.coverage[-1][1] == _ms("2023-06-30 23:00")
    seen = len(fake_binance.klines_requests())
    again = ingest_candles(config)  # bars not published yet are not taken for an outage
    assert _starts(fake_binance, seen) == [_ms("2023-07-01 00:00")]
    assert again.rows == 48 and not again.written and again.gaps == 0


def test_empty_answer_writes_nothing(fake_binance: FakeBinance, ccxt_config: Factory) -> None:
    config = ccxt_config(symbol="ETH/USDT", start="2024-01-01", end="2024-01-02")  # listed, no bars
    with pytest.raises(DataError, match="returned no binance ETH/USDT 1h candles"):
        ingest_candles(config)
    assert not open_store(config).path.exists()


def test_requested_range_stops_at_last_closed_bar() -> None:
    config = DataConfig(source="ccxt", start=date(2024, 1, 1), end=date(2024, 1, 2))
    assert requested_range(config, []) == (_ms("2024-01-01"), _ms("2024-01-02 23:00"))
    now = _ms("2024-01-02 10:30")
    assert requested_range(config, [], now_ms=now) == (_ms("2024-01-01"), _ms("2024-01-02 09:00"))
    open_ended = DataConfig(source="ccxt")
    assert requested_range(open_ended, [(_ms("2020-05-01"), _ms("2020-06-01"))], now)[0] == _ms(
        "2020-05-01"
    )
    weekly = DataConfig(source="ccxt", timeframe="1w", start=date(2024, 1, 3), end=date(2024, 2, 1))
    first, last = requested_range(weekly, [])
    assert (
        pd.Timestamp(first, unit="ms").day_name()
        == "Monday"
        == pd.Timestamp(last, unit="ms").day_name()
    )


def test_sigkill_mid_download_leaves_store_unchanged(
    fake_binance: FakeBinance, ccxt_config: Factory, binance_1h: pd.DataFrame
) -> None:
    ingest_candles(ccxt_config(start="2023-06-01", end="2023-06-30"))
    wide = ccxt_config(start="2023-01-01", end="2023-06-30")
    before = _tree(wide.data_dir)
    fake_binance.short_page, fake_binance.delay_s = 50, 0.05  # a slow, many-page download
    seen = len(fake_binance.klines_requests())
    script = (
        "from btcrl.config import DataConfig; from btcrl.data import ingest_candles; "
        f"ingest_candles(DataConfig.model_validate_json({wide.model_dump_json()!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(fake_binance.klines_requests()) < seen + 10 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert _tree(wide.data_dir) == before  # nothing half-written, nothing replaced
    assert len(load_candles(ccxt_config(start="2023-06-01", end="2023-06-30"))) == 720
    fake_binance.short_page, fake_binance.delay_s = None, 0.0
    ingest_candles(wide)  # the dead process's lock is gone with it
    expected = binance_1h.loc["2023-01-01":"2023-06-30"]
    pd.testing.assert_frame_equal(load_candles(wide), expected, check_freq=False)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(
    fake_binance: FakeBinance, ccxt_config: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    with progress_bar("BTC/USDT", "bar") as bar:
        ingest_candles(ccxt_config(start="2023-01-01", end="2023-03-31"), progress=bar)
    assert "BTC/USDT: 100%" in terminal.getvalue() and "2160/2160" in terminal.getvalue()


@pytest.mark.slow
def test_two_processes_ingesting_one_key(
    fake_binance: FakeBinance, ccxt_config: Factory, binance_1h: pd.DataFrame
) -> None:
    config = ccxt_config(start="2023-01-01", end="2023-06-30")
    fake_binance.delay_s = 0.02
    script = (
        "from btcrl.config import DataConfig; from btcrl.data import ingest_candles; "
        f"r = ingest_candles(DataConfig.model_validate_json({config.model_dump_json()!r})); "
        "print(r.written, r.requests)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = sorted(proc.communicate(timeout=60)[0].split() for proc in procs)
    assert [proc.returncode for proc in procs] == [0, 0]
    assert outputs[0] == ["False", "0"] and outputs[1][0] == "True"  # one fetched, one found it
    assert len(fake_binance.klines_requests()) == int(outputs[1][1]) - 1
    expected = binance_1h.loc["2023-01-01":"2023-06-30"]
    pd.testing.assert_frame_equal(load_candles(config), expected, check_freq=False)


def test_repair_on_a_complete_ccxt_store_repairs_what_is_stored(
    binance_1h: pd.DataFrame, tmp_path: Path
) -> None:
    """Nothing left to fetch, repair requested: the stored bars are repaired, not ignored."""
    broken = binance_1h.copy()
    bar = broken.index[10]
    broken.loc[bar, "high"] = broken.loc[bar, "close"] - 1.0  # high below the close
    with FakeBinance(broken, lifetime_s=120) as fake:
        plain = DataConfig(
            source="ccxt", exchange="binance", symbol="BTC/USDT", timeframe="1h",
            data_dir=tmp_path / "data", api_url=fake.url, rate_limit_ms=1,
            retry_backoff_s=0.01, max_retries=3, timeout_ms=2000,
            start=date(2023, 1, 1), end=date(2023, 1, 31),
        )  # fmt: skip
        ingest_candles(plain)
        requests = len(fake.klines_requests())
        assert load_candles(plain).loc[bar, "high"] < broken.loc[bar, "close"]  # kept as is
        repair = plain.model_copy(update={"repair": True})
        result = ingest_candles(repair)
        assert len(fake.klines_requests()) == requests  # nothing fetched again
        assert result.written and result.report is not None and result.report.repaired == 1
        assert load_candles(repair).loc[bar, "high"] == broken.loc[bar, "close"]
        assert result.manifest.repair
        again = ingest_candles(repair)
        assert not again.written  # already repaired: a no-op
