"""`btcrl ingest`: the acceptance run, its MLflow record, and one-line errors."""

import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.data.csv_source import read_csv_candles

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_binance import FakeBinance  # noqa: E402


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One sqlite MLflow store for this module (creating one costs seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        mlflow.set_tracking_uri(uri)
        yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    candles = read_csv_candles(shared_data / "BTCUSDT_1h_binance.csv").loc["2023-01":"2023-02"]
    with FakeBinance(candles, lifetime_s=60) as server:
        yield server


def _ingest(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ingest", *args], catch_exceptions=True)
    return result.exit_code, result.stdout, result.stderr


def test_gap_ranges_first_five_then_a_count(tmp_path: Path, btc_1h, tracking: str) -> None:
    """Seven holes cut into real candles: the first five ranges printed, then the count."""
    holes = [(100, 3), (200, 1), (300, 10), (400, 2), (500, 1), (600, 5), (700, 1)]
    drop = [btc_1h.index[i] for start, bars in holes for i in range(start, start + bars)]
    csv = tmp_path / "holes.csv"
    btc_1h.drop(index=drop).rename_axis("datetime").to_csv(csv)
    code, out, err = _ingest(
        "--source", f"csv:{csv}", "--data-dir", str(tmp_path / "data"), "--no-features"
    )
    assert code == 0, err
    # with the extract's own outage (2023-03-24 13:00, after the holes): 8 gaps, 24 bars
    assert "8 gaps / 24 missing bars" in out
    first = btc_1h.index[300]
    assert f"gap: {first:%Y-%m-%dT%H}:00:00Z .. " in out and "(10 bars)" in out
    assert out.count("\ngap: ") == 5 and "(1 bar)\n" in out
    manifest = tmp_path / "data" / "candles" / "csv-holes" / "BTC-USDT" / "1h.manifest.json"
    assert f"... and 3 more gaps (all 8 in {manifest})" in out


def test_csv_acceptance_run_logs_to_mlflow(
    tmp_path: Path, shared_data: Path, tracking: str
) -> None:
    csv = shared_data / "BTCUSDT_1h_binance.csv"
    args = ["--source", f"csv:{csv}", "--symbol", "BTC/USDT", "--timeframe", "1h"]
    code, out, err = _ingest(*args, "--data-dir", str(tmp_path / "data"), "--no-features")
    assert code == 0, err
    assert "4,343 rows (4,343 new), 1 gap / 1 missing bar" in out
    store = tmp_path / "data" / "candles" / "csv-BTCUSDT_1h_binance" / "BTC-USDT" / "1h.parquet"
    assert f"store: {store} (written)" in out
    assert "gap: 2023-03-24T13:00:00Z .. 2023-03-24T13:00:00Z (1 bar)\n" in out  # Binance outage
    assert "more gaps" not in out
    run_id = out.split("mlflow run: ")[1].split()[0]
    run = mlflow.get_run(run_id)
    assert run.data.tags["btcrl.stage"] == "ingest" and run.info.status == "FINISHED"
    assert run.data.tags["btcrl.data_hash"]
    assert run.data.params["source"] == f"csv:{csv}" and run.data.params["timeframe"] == "1h"
    assert run.data.params["range"] == "start..end"
    assert run.data.metrics["rows"] == 4_343 and run.data.metrics["gaps"] == 1
    assert run.data.metrics["missing_bars"] == 1 and run.data.metrics["new_rows"] == 4_343
    assert {"requests", "seconds"} <= set(run.data.metrics)
    client = mlflow.MlflowClient()
    names = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert names == {"manifest.json", "validation_report.json"}
    report = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/validation_report.json")
    assert report["gaps"] == 1 and report["missing_bars"] == 1 and len(report["gap_ranges"]) == 1
    # a re-ingest is a no-op that still records a run
    code, out, _ = _ingest(*args, "--data-dir", str(tmp_path / "data"))
    assert code == 0 and "(0 new)" in out and "(unchanged)" in out


def test_mlproject_empty_strings_mean_unset(tmp_path: Path, tracking: str) -> None:
    code, out, err = _ingest(
        "--config", "", "--source", "sample", "--start", "", "--end", "",
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert code == 0, err
    assert "sample BTC/USDT 1h: 28,457 rows" in out


def _assert_one_line_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 1
    lines = [line for line in err.splitlines() if not line.startswith("20")]  # mlflow's db log
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--symbol", "BTC/USDX"], "symbol 'BTC/USDX' is not listed on binance; close matches"),
        (["--timeframe", "7h"], "timeframe '7h' is not offered by binance; choose one of 1s, 1m"),
        (["--timeframe", "1x"], "data.timeframe='1x' is invalid"),
        (["--start", "2024-02-02", "--end", "2024-02-01"], "end 2024-02-01 is before start"),
        (["--exchange", "nosuchex"], "exchange 'nosuchex' is unknown to ccxt"),
    ],
)
def test_exchange_errors_are_one_line(
    tmp_path: Path, tracking: str, fake: FakeBinance, args: list[str], expected: str
) -> None:
    base = ["--source", "ccxt", "--data-dir", str(tmp_path), "--set", f"data.api_url={fake.url}"]
    base += ["--set", "data.retry_backoff_s=0", "--start", "2023-01-01", "--end", "2023-01-03"]
    _assert_one_line_error(*_ingest(*base, *args), expected)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read csv file"),
        (
            "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,oops,3\n",
            "holds 'oops', not a number",
        ),
        ("a;b\n1;2\n", "lacks column(s) open, high, low, close, volume"),
        ("time,open,high,low,close,volume\n2024-01-01,1,2,0.5,-1.5,3\n", "1 nonpositive prices"),
    ],
)
def test_csv_errors_are_one_line(
    tmp_path: Path, tracking: str, content: str | None, expected: str
) -> None:
    path = tmp_path / "candles.csv"
    if content is not None:
        path.write_text(content)
    result = _ingest("--source", f"csv:{path}", "--data-dir", str(tmp_path / "data"))
    _assert_one_line_error(*result, expected)
    runs = mlflow.search_runs(
        experiment_names=["btcrl-ingest"], order_by=["attributes.start_time DESC"], max_results=1,
        output_format="list",
    )  # fmt: skip
    assert runs[0].info.status == "FAILED" and runs[0].data.params["source"] == f"csv:{path}"


def test_feature_stats_are_one_artifact_not_a_metric_per_column(
    tmp_path: Path, tracking: str
) -> None:
    code, out, err = _ingest("--source", "sample", "--data-dir", str(tmp_path / "data"))
    assert code == 0, err
    run = mlflow.search_runs(  # the latest: other tests of this module ingest too
        experiment_names=["btcrl-ingest"],
        filter_string="params.source = 'sample'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )[0]
    features = {k for k in run.data.metrics if k.startswith("features/")}
    assert features == {"features/rows", "features/first_valid", "features/nan"}
    stats = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/feature_stats.json")
    assert stats["rows"] == run.data.metrics["features/rows"] and len(stats) > 100
