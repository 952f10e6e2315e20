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
    assert "--total-timesteps INTEGER" in help_text and "[default: config, 200000]" in help_text


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


def test_held_back_results_print_returns_in_percent() -> None:
    from btcrl.cli.tune import _num

    assert _num(0.0523, "total_return") == "+5.23%" and _num(-0.2, "max_drawdown") == "-20.00%"
    assert _num(1.23456, "sharpe") == "1.235" and _num(None, "sharpe") == "n/a"
