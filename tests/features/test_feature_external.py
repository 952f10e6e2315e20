"""External daily series: file layouts, the causal daily shift, the yfinance cache, errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import btcrl.data.external as external
from btcrl.config import ExternalSeriesConfig, FeaturesConfig, load_config
from btcrl.data.external import read_daily_csv
from btcrl.errors import ConfigError, DataError, ExchangeError
from btcrl.features import build_feature_set
from btcrl.features.external import align_daily


def _build(candles: pd.DataFrame, *ext: ExternalSeriesConfig, data_dir: Path | None = None):
    config = FeaturesConfig(external=ext, strategies=(), cache=False)
    return build_feature_set(
        candles, config, exchange="binance", symbol="BTC/USDT", timeframe="1h", data_dir=data_dir
    )


def test_reads_cboe_and_yahoo_layouts(shared_data: Path) -> None:
    vix = read_daily_csv(shared_data / "VIX_daily_cboe.csv")
    assert len(vix) == 537 and vix.index[0] == pd.Timestamp("2022-06-01", tz="UTC")
    assert vix.iloc[0] == 25.69 and vix.index.is_monotonic_increasing
    spx = read_daily_csv(shared_data / "SPX_daily_yahoo.csv")
    assert spx.index[0] == pd.Timestamp("2022-06-01", tz="UTC")
    dxy = read_daily_csv(shared_data / "DXY_daily_yahoo.csv")  # Date,Close,High,... order
    assert dxy.index[0] == pd.Timestamp("2022-06-01", tz="UTC")
    assert dxy.iloc[0] == pytest.approx(102.55, abs=1e-5)  # Close, not Open (101.76)


def test_day_visible_only_after_it_closes_and_carried_over_the_weekend() -> None:
    days = pd.DatetimeIndex(["2024-01-04", "2024-01-05", "2024-01-08"], tz="UTC")  # Thu Fri Mon
    values = pd.Series([14.0, 15.0, 18.0], index=days)
    bars = pd.date_range("2024-01-04 22:00", "2024-01-09 01:00", freq="1h", tz="UTC")
    got = pd.Series(align_daily(values, bars, 3600), index=bars)
    assert np.isnan(got["2024-01-04 22:00"])  # closes 23:00 Thu: Thursday not over yet
    assert got["2024-01-04 23:00"] == 14.0  # closes Fri 00:00: Thursday's value appears
    assert got["2024-01-05 22:00"] == 14.0  # Friday's close is still in the future
    assert got["2024-01-05 23:00"] == 15.0
    assert (got["2024-01-06":"2024-01-08 22:00"] == 15.0).all()  # weekend + Monday: Friday's
    assert got["2024-01-08 23:00"] == 18.0 and got["2024-01-09 01:00"] == 18.0


def test_vix_column_in_the_feature_set(btc_1h: pd.DataFrame, vix_csv: Path) -> None:
    candles = btc_1h.loc["2023-03-01":"2023-04-30"]
    fs = _build(candles, ExternalSeriesConfig(name="vix", source=f"csv:{vix_csv}"))
    j = fs.spec.feature_names.index("vix")
    assert fs.spec.columns[j].kind == "external"
    raw = fs.raw[:, fs.raw_names.index("raw_vix")]
    # 2023-03-13 VIX close 26.52 (CBOE): visible from the bar closing 2023-03-14 00:00
    stamp = candles.index.get_loc(pd.Timestamp("2023-03-13 23:00", tz="UTC"))
    assert raw[stamp] == pytest.approx(26.52) and raw[stamp - 1] != raw[stamp]
    assert fs.features[stamp, j] == pytest.approx(np.log(26.52 / 20.0), rel=1e-6)


def test_stale_or_broken_files_are_errors(
    tmp_path: Path, btc_1h: pd.DataFrame, vix_csv: Path
) -> None:
    candles = btc_1h.loc["2023-03-01":"2023-03-20"]
    short = tmp_path / "vix_short.csv"
    short.write_text("\n".join(vix_csv.read_text().splitlines()[:100]))  # ends 2022-10-17
    with pytest.raises(
        DataError,
        match=r"external series vix \(csv:.*\) ends 2022-10-17, but the "
        r"candles run to 2023-03-20",
    ):
        _build(candles, ExternalSeriesConfig(name="vix", source=f"csv:{short}"))
    bad = tmp_path / "bad.csv"
    bad.write_text("when,price\n2022-01-01,1\n")
    with pytest.raises(DataError, match="needs a DATE and a CLOSE column"):
        _build(candles, ExternalSeriesConfig(name="vix", source=f"csv:{bad}"))
    with pytest.raises(DataError, match="cannot read external series file"):
        _build(candles, ExternalSeriesConfig(name="vix", source=f"csv:{tmp_path / 'none.csv'}"))
    with pytest.raises(ConfigError, match="must be 'yfinance' or 'csv:PATH'"):
        load_config(None, ["features.external=[{name: vix, source: ftp}]"])


def test_unreachable_yfinance_is_a_clear_error(monkeypatch, tmp_path: Path, btc_1h) -> None:
    import yfinance

    class Offline:
        def __init__(self, ticker: str) -> None:
            pass

        def history(self, **kwargs):
            raise ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")

    monkeypatch.setattr(yfinance, "Ticker", Offline)
    candles = btc_1h.loc["2023-03-01":"2023-03-20"]
    with pytest.raises(
        ExchangeError, match=r"^cannot download \^VIX \(vix\) from yfinance"
    ) as info:
        _build(candles, ExternalSeriesConfig(name="vix"), data_dir=tmp_path)
    message = str(info.value)
    assert "cannot download ^VIX (vix) from yfinance: ConnectionError" in message
    assert "csv:PATH" in message and "\n" not in message
    assert not (tmp_path / "external" / "vix.parquet").exists()


def test_yfinance_cache_is_used_offline(monkeypatch, tmp_path: Path, btc_1h, vix_csv: Path) -> None:
    cache = tmp_path / "external" / "vix.parquet"
    cache.parent.mkdir(parents=True)
    read_daily_csv(vix_csv).to_frame().to_parquet(cache)

    def no_network(*args, **kwargs):
        raise AssertionError("the cache covers the candles; no download expected")

    monkeypatch.setattr(external, "fetch_yahoo", no_network)
    candles = btc_1h.loc["2023-03-01":"2023-03-20"]
    from_cache = _build(candles, ExternalSeriesConfig(name="vix"), data_dir=tmp_path)
    from_csv = _build(candles, ExternalSeriesConfig(name="vix", source=f"csv:{vix_csv}"))
    np.testing.assert_array_equal(from_cache.features, from_csv.features)


def test_external_disabled_by_default() -> None:
    assert FeaturesConfig().external == ()
