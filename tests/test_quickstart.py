"""`make quickstart` does what the README says: the Makefile's own ingest and train commands,
run as written (plus a private data dir and store), ingest the bundled sample and train the
shipped default, a three-seed ensemble of residual PPO around the prior, that trades on
validation and prints the agent beside the prior and buy-and-hold; its validation metrics are
linked to its logged model."""

import re
import shlex
from pathlib import Path

from click.testing import CliRunner
from mlflow import MlflowClient

from btcrl.cli import main

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[list[str]]:
    """The btcrl commands of the Makefile's ``quickstart`` recipe, arguments as written."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^quickstart:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe, "the Makefile has no quickstart recipe"
    commands = []
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.strip())
        if words and words[0].endswith("/btcrl"):
            commands.append(words[1:])
    return commands


def test_quickstart_trains_a_default_ensemble_that_trades(
    tracking_uri: str, tmp_path: Path
) -> None:
    commands = quickstart_commands()
    assert [c[0] for c in commands] == ["ingest", "train"]
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(main, [*command, *data], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    out = result.output
    assert "ensemble of seeds [0, 1, 2]: member runs " in out
    assert "model URI: models:/btcrl-ppo/1" in out
    table = r"^(agent|prior trend_voltarget|buy-and-hold) +[+-]\d+\.\d\d% +-?\d"
    rows = [m.group(1) for m in re.finditer(table, out, re.MULTILINE)]
    assert rows == ["agent", "prior trend_voltarget", "buy-and-hold"], out
    fills = re.search(r"fills on validation: (\d+)", out)
    assert fills and int(fills.group(1)) > 0, out
    client = MlflowClient()  # the ensemble's validation is linked to its logged model
    source = client.get_model_version("btcrl-ppo", "1").source  # models:/<logged model id>
    model = client.get_logged_model(source.removeprefix("models:/"))
    assert model.name == "btcrl-ppo-ensemble3"
    linked = {m.key for m in model.metrics}
    assert {"val/sharpe", "best/sharpe", "val/excess_prior_psr", "val/fills"} <= linked
