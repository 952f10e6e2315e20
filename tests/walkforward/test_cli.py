"""`btcrl walkforward` bad input: one line on stderr, exit 1, before any training."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.cli.walkforward import parse_indices
from btcrl.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-months", "60"], "0 segment(s) fit in the data 2022-01-01"),
        (["--start", "2024-06-01", "--train-months", "6"], "1 segment(s) fit in the data"),
        (["--test-months", "0"], "walkforward.test_months=0 is invalid"),
        (["--step-months", "1"], "must equal test_months"),
        (["--seeds", "0,x"], "--seeds '0,x' is not a comma-separated list of integers"),
        (["--seeds", "2,2"], "must list distinct non-negative integers"),
        (
            ["--train-months", "6", "--val-months", "1", "--segments", "12"],
            "segments [12] do not exist: this split has segments 0..9",
        ),
    ],
)
def test_bad_input_is_one_line(
    args: list[str], message: str, tmp_path: Path, tracking_uri: str
) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    result = CliRunner().invoke(
        main,
        ["walkforward", "--data-dir", str(tmp_path / "data"), "--storage", storage, *args],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]
    assert not (tmp_path / "studies.db").exists()  # nothing created before the checks


def test_parse_indices() -> None:
    assert parse_indices("4, 5,6", "segments") == [4, 5, 6]
    assert parse_indices("", "seeds") is None
    with pytest.raises(ConfigError, match="--seeds '-1' must list distinct non-negative integers"):
        parse_indices("-1", "seeds")
