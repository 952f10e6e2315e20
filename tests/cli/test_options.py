"""Numeric options are typed (and accept MLproject's '' for "keep the config's value");
tune's summary names the trials this invocation ran; training prints progress lines."""

import os
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from btcrl.agents.callbacks import ProgressLineCallback
from btcrl.cli import main
from btcrl.cli.common import BLANK_INT, TRACKING_HTTP_ENV, setup_logging
from btcrl.cli.tune import _numbers


@pytest.mark.parametrize(("command", "option"), [("train", "--n-envs"), ("tune", "--trials")])
def test_numeric_options_reject_text(command: str, option: str) -> None:
    result = CliRunner().invoke(main, [command, option, "many"])
    assert result.exit_code == 2 and "'many' is not a valid integer" in result.output


def test_blank_means_unset_and_help_shows_defaults() -> None:
    assert BLANK_INT.convert("", None, None) is None
    assert BLANK_INT.convert("12", None, None) == 12
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert "--total-timesteps INTEGER" in help_text and "[default: config, 65536]" in help_text


def test_tune_summary_names_the_trials_it_ran() -> None:
    assert _numbers([]) == "none"
    assert _numbers([4]) == "trial 4"
    assert _numbers([9, 10, 11]) == "trials 9..11"
    assert _numbers([3, 5]) == "trials 3, 5"


def test_progress_line_counts_steps_rate_and_sharpe() -> None:
    lines: list[str] = []
    validation = SimpleNamespace(last_metrics={"val/sharpe": 0.4149})
    callback = ProgressLineCallback(200_000, lines.append, validation, every_s=30.0)  # type: ignore[arg-type]
    callback.num_timesteps = 0
    callback._on_training_start()
    start = callback._start
    callback.num_timesteps = 12_288
    callback._last = start - 31.0  # 31 s since the last line: one is due
    callback._on_step()
    callback._on_step()  # the next line only 30 s later
    assert len(lines) == 1 and lines[0].startswith("train: 12,288/200,000 steps (6%), ")
    assert callback.line(start + 10.0) == (
        "train: 12,288/200,000 steps (6%), 1,229 steps/s, val/sharpe 0.41"
    )


def test_blank_storage_falls_back_to_its_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLproject passes ``--storage ''``; the env var must still choose the storage (else a
    walk-forward under `mlflow run` writes its study into the project folder)."""
    import click

    from btcrl.cli.common import empty_uses_env

    @click.command()
    @click.option("--storage", envvar="BTCRL_WALKFORWARD_STORAGE", callback=empty_uses_env)
    def show(storage: str | None) -> None:
        click.echo(repr(storage))

    monkeypatch.setenv("BTCRL_WALKFORWARD_STORAGE", "sqlite:////tmp/x.db")
    runner = CliRunner()
    assert runner.invoke(show, ["--storage", ""]).output.strip() == "'sqlite:////tmp/x.db'"
    assert runner.invoke(show, ["--storage", "sqlite:///y.db"]).output.strip() == "'sqlite:///y.db'"
    assert runner.invoke(show, []).output.strip() == "'sqlite:////tmp/x.db'"
    monkeypatch.delenv("BTCRL_WALKFORWARD_STORAGE")
    assert runner.invoke(show, ["--storage", ""]).output.strip() == "None"


def test_a_quiet_command_turns_mlflow_download_bars_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", *TRACKING_HTTP_ENV):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    setup_logging(0)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"


@pytest.mark.parametrize("value", ["bar time: utc", "2024", "true", "[a, b]"])
def test_option_values_are_typed_not_parsed_as_yaml(value: str) -> None:
    """``--time-column "bar time: utc"`` (or ``2024``) stays the string it is (issue 23.7)."""
    from btcrl.cli.common import build_experiment_config

    config = build_experiment_config(None, (), {"time_column": value, "start": "2024-01-02"})
    assert config.data.time_column == value and str(config.data.start) == "2024-01-02"


def test_a_csv_time_column_with_yaml_syntax_in_its_name(tmp_path, tracking_uri: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "candles.csv"
    rows = [f"2024-01-01 {h:02d}:00,1,2,0.5,1.5,3" for h in range(24)]
    path.write_text("bar time: utc,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    args = ["ingest", "--source", f"csv:{path}", "--time-column", "bar time: utc"]
    args += ["--timeframe", "1h", "--data-dir", str(tmp_path / "data"), "--no-features"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "24 rows" in result.output and "time column: 'bar time: utc'" in result.output


def test_tune_metrics_are_passed_as_values() -> None:
    """``--metric`` values reach the config as typed strings (no ``repr`` round trip)."""
    from btcrl.cli.common import build_experiment_config

    values = {
        "tune.metrics": ["val/sharpe", "val/max_drawdown"],
        "tune.directions": ["maximize"] * 2,
    }
    config = build_experiment_config(None, (), {}, {}, values)
    assert list(config.tune.metrics) == ["val/sharpe", "val/max_drawdown"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "env.fee_rate"], "must look like key.path=value"),
        (["--set", "=3"], "must look like key.path=value"),
        (["--config", "no/such/file.yaml"], "does not exist"),
    ],
)
def test_usage_errors_exit_2(args: list[str], expected: str) -> None:
    """A ``--set`` without ``=`` and a missing ``--config`` file are usage errors (issue 23.11)."""
    result = CliRunner().invoke(main, ["ingest", *args])
    assert result.exit_code == 2 and expected in result.output


def test_held_back_results_print_returns_in_percent() -> None:
    from btcrl.cli.tune import _num

    assert _num(0.0523, "total_return") == "+5.23%" and _num(-0.2, "max_drawdown") == "-20.00%"
    assert _num(1.23456, "sharpe") == "1.235" and _num(None, "sharpe") == "n/a"
