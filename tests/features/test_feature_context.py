"""Context assets: close-time alignment, gaps held (never filled from the future), the
context columns by hand, multi-asset turbulence, NASDAQ, config defaults and the CLI."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.config import ExperimentConfig, FeaturesConfig
from btcrl.data.csv_source import read_csv_candles
from btcrl.data.external import YAHOO_TICKERS
from btcrl.data.sample import load_sample
from btcrl.features import build_feature_set
from btcrl.features.context import align_by_close
from btcrl.features.turbulence import turbulence

ROOT = Path(__file__).resolve().parents[2]
ETH = ROOT / "tests" / "data" / "eth_usd_1h_extract.csv"
HOUR = 3600


def _frame(times: list[str], closes: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time")
    return pd.DataFrame({"close": closes}, index=index)


def test_alignment_is_by_close_time_and_gaps_hold_with_an_age() -> None:
    base = pd.date_range("2024-01-01 00:00", periods=6, freq="1h", tz="UTC")
    # the 02:00 and 03:00 context bars are missing (an outage)
    ctx = _frame(
        ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 04:00", "2024-01-01 05:00"],
        [10.0, 11.0, 14.0, 15.0],
    )
    close, age = align_by_close(ctx, base, HOUR, HOUR)
    np.testing.assert_array_equal(close, [10.0, 11.0, 11.0, 11.0, 14.0, 15.0])
    np.testing.assert_array_equal(age, [0.0, 0.0, 1.0, 2.0, 0.0, 0.0])  # never 14 early
    # a 4h context bar opening 00:00 closes at 04:00: first visible on the 03:00 base bar
    four = _frame(["2024-01-01 00:00", "2024-01-01 04:00"], [20.0, 24.0])
    close, age = align_by_close(four, base, HOUR, 4 * HOUR)
    np.testing.assert_array_equal(close, [np.nan, np.nan, np.nan, 20.0, 20.0, 20.0])
    np.testing.assert_array_equal(age[3:], [0.0, 1.0, 2.0])


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return load_sample().loc["2023-08-20":"2023-12-31"]


@pytest.fixture(scope="module")
def with_eth(btc: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    config = FeaturesConfig(
        indicators=(),
        strategies=(),
        context=({"source": f"csv:{ETH}", "symbol": "ETH/USDT"},),
        cache=False,
    )
    data_dir = tmp_path_factory.mktemp("ctx")
    return build_feature_set(
        btc, config, exchange="binance", symbol="BTC/USDT", timeframe="1h", data_dir=data_dir
    )


def test_context_columns_by_hand(with_eth, btc: pd.DataFrame) -> None:
    names = list(with_eth.spec.feature_names)
    eth = read_csv_candles(ETH)["close"]
    t = btc.index.get_loc(pd.Timestamp("2023-11-15 12:00", tz="UTC"))
    stamp = btc.index[t]
    e_now, e_4 = eth[stamp], eth[stamp - pd.Timedelta(hours=4)]
    b_now, b_24 = btc["close"].iloc[t], btc["close"].iloc[t - 24]
    e_24 = eth[stamp - pd.Timedelta(hours=24)]
    row = with_eth.features[t].astype(np.float64)
    assert math.isclose(row[names.index("eth_ret_4")], 100 * math.log(e_now / e_4), rel_tol=1e-5)
    ratio = 100 * (math.log(e_now / b_now) - math.log(e_24 / b_24))
    assert math.isclose(row[names.index("eth_ratio_ret")], ratio, rel_tol=1e-4)
    # correlation and beta of one-bar log returns over the last 168 bars
    rb = np.diff(np.log(btc["close"].iloc[t - 168 : t + 1].to_numpy()))
    re = np.diff(np.log(eth.loc[btc.index[t - 168] : stamp].to_numpy()))
    assert math.isclose(row[names.index("eth_corr")], np.corrcoef(rb, re)[0, 1], rel_tol=1e-5)
    beta = np.cov(rb, re)[0, 1] / np.var(rb, ddof=1)
    assert math.isclose(row[names.index("eth_beta")], beta - 1.0, rel_tol=1e-4, abs_tol=1e-6)
    assert row[names.index("eth_age")] == 0.0
    # before ETH's first bar (2023-09-01 00:00) closes, nothing ETH-based exists
    first = btc.index.get_loc(pd.Timestamp("2023-09-01", tz="UTC"))
    assert np.isnan(with_eth.features[:first, names.index("eth_ret_1")]).all()
    assert np.isfinite(with_eth.features[first + 1, names.index("eth_ret_1")])


def test_turbulence_becomes_multi_asset(with_eth, btc: pd.DataFrame) -> None:
    column = next(c for c in with_eth.spec.columns if c.name == "turbulence")
    assert column.params["assets"] == 2.0
    eth = read_csv_candles(ETH)["close"].reindex(btc.index).to_numpy()
    both = turbulence(np.column_stack([btc["close"].to_numpy(), eth]), 240, (1, 4, 24))
    raw = with_eth.raw[:, with_eth.raw_names.index("raw_turbulence")]
    np.testing.assert_array_equal(raw, both)
    alone = turbulence(btc["close"].to_numpy(), 240, (1, 4, 24))
    valid = np.isfinite(both)
    assert not np.allclose(both[valid], alone[valid])
    # six return columns: the Mahalanobis distance averages about 6, not 3
    assert 4.0 < np.nanmean(both) < 9.0 and 2.0 < np.nanmean(alone) < 4.5


def test_nasdaq_is_a_daily_series_like_the_others(btc: pd.DataFrame, tmp_path: Path) -> None:
    assert YAHOO_TICKERS["nasdaq"] == "^IXIC"
    days = pd.date_range("2023-08-01", "2024-01-05", freq="B")
    closes = 13000.0 * np.exp(np.cumsum(np.full(len(days), 0.001)))
    path = tmp_path / "ixic.csv"
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": closes}).to_csv(path, index=False)
    config = FeaturesConfig(
        indicators=(),
        strategies=(),
        context=({"external": "nasdaq", "external_source": f"csv:{path}"},),
        cache=False,
    )
    fs = build_feature_set(btc, config, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert fs.spec.external == ("nasdaq_ret",) and fs.spec.context == ()
    column = fs.features[:, fs.spec.feature_names.index("nasdaq_ret")]
    assert np.allclose(column[fs.first_valid :], 0.1, atol=1e-5)  # 100 x ln(1.001), in %


def test_new_features_are_off_in_code_and_in_the_shipped_yaml() -> None:
    shipped = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())["features"]
    # the shipped experiment enables the prior (issue 21); the section's own default is off
    assert FeaturesConfig.model_validate(shipped) == ExperimentConfig().features
    assert FeaturesConfig().prior.enabled is False and shipped["prior"]["enabled"] is True
    code = FeaturesConfig()
    assert code.context == () and code.fit_end is None
    for section in ("range_volatility", "returns", "hmm", "fracdiff"):
        assert getattr(code, section).enabled is False
        assert shipped[section]["enabled"] is False


def test_cli_shows_the_context_columns(tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    context = f"features.context=[{{source: 'csv:{ETH}', symbol: ETH/USDT}}]"
    args = ["features", "--set", f"data.data_dir={tmp_path / 'data'}", "--set", context]
    args += ["--start", "2023-10-01", "--end", "2023-10-31", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    for name in ("eth_ret_1", "eth_ret_24", "eth_corr", "eth_beta", "eth_ratio_ret", "eth_age"):
        assert name in table.columns and f"raw_{name}" in table.columns
    assert table["valid"].all() and table["eth_ret_1"].notna().all()


def test_warm_up_covers_the_new_windows() -> None:
    from btcrl.features import warmup_bars

    assert warmup_bars(FeaturesConfig(), "1h") == 895  # unchanged: 3 x 265 + 100
    widest = 4076  # the fracdiff window of d = 0.1 at threshold 1e-5
    assert warmup_bars(FeaturesConfig(fracdiff={"enabled": True}), "1h") == widest + 100
    many = FeaturesConfig(returns={"enabled": True, "zscore_windows": (500,)})
    assert warmup_bars(many, "1h") == 3 * 501 + 100
