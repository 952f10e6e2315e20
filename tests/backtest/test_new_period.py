"""The README's path to a new period: one `btcrl ingest --source csv:PATH`, then
`btcrl backtest --model models:/NAME@candidate --source csv-<stem>` without the path."""

from pathlib import Path

import mlflow
import yaml
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.data.sample import load_sample

from .conftest import bt_overrides


def _cli(home: Path, *args: str):
    sets = [part for item in bt_overrides(home) for part in ("--set", item)]
    return CliRunner().invoke(main, [*args, *sets], catch_exceptions=False)


def test_registry_model_on_an_ingested_csv_by_its_key(
    bt_home: Path, trained_model: str, tmp_path: Path
) -> None:
    # real candles after the model's training and validation spans (they end 2024-09-30),
    # from a September start so the features have their warm-up history
    csv = tmp_path / "BTCUSDT_1h_newer.csv"
    load_sample().loc["2024-09-01":"2025-03-31"].rename_axis("datetime").to_csv(csv)
    ingest = _cli(bt_home, "ingest", "--source", f"csv:{csv}", "--no-features")
    assert ingest.exit_code == 0, ingest.output
    assert "csv-BTCUSDT_1h_newer BTC/USDT 1h: 5,082 rows (5,082 new)" in ingest.output
    csv.unlink()  # the backtest reads the store, not the file

    name = trained_model.removeprefix("models:/").split("/")[0]
    result = _cli(
        bt_home,
        "backtest",
        "--model", f"models:/{name}@candidate",
        "--source", "csv-BTCUSDT_1h_newer",
        "--start", "2024-10-01",
        "--end", "2025-03-31",
        "--set", "backtest.plots=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "IN-SAMPLE" not in result.output
    run = mlflow.get_run(result.output.split("run id: ")[1].split()[0])
    tags, params = run.data.tags, run.data.params
    assert tags["btcrl.in_sample"] == "false" and tags["btcrl.model_alias"] == "candidate"
    assert tags["btcrl.algo"] == "ppo"  # from the model, for the compare view
    assert tags["btcrl.backtest_start"] == "2024-10-01T00:00:00+00:00"
    assert params["data.source"] == "csv-BTCUSDT_1h_newer"
    # only the params that apply: no agent, training, tune or reward settings ...
    sections = {key.split(".")[0] for key in params}
    assert sections == {"seed", "data", "backtest", "env"}
    assert "env.fee_rate" in params and "env.reward" not in params
    # ... while config.yaml keeps the whole config
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id))
    config = yaml.safe_load((local / "config.yaml").read_text())
    assert {"agent", "train", "tune", "features"} <= set(config)
    assert config["data"]["source"] == "csv-BTCUSDT_1h_newer"
