"""Registry aliases and version tags on a real sqlite MLflow store."""

from datetime import date
from pathlib import Path

import mlflow
import pytest

from btcrl.errors import BtcrlError
from btcrl.tracking import tags as tag_names
from btcrl.tracking.aliases import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    describe_version,
    format_windows,
    parse_windows,
    resolve_version,
    set_alias,
    tag_challenger,
    version_run_id,
    version_tags,
)
from btcrl.tracking.lookup import download_run_artifact

NAME = "btcrl-test"


def _register_two_versions(tmp_path: Path) -> list[str]:
    """Two versions of NAME, each from a run with one small artifact; their run ids."""
    client = mlflow.tracking.MlflowClient()
    client.create_registered_model(NAME)
    runs = []
    for i in range(2):
        with mlflow.start_run(experiment_id=mlflow.create_experiment(f"e{i}")) as run:
            note = tmp_path / "note.txt"
            note.write_text(f"run {i}")
            mlflow.log_artifact(str(note))
        client.create_model_version(NAME, f"runs:/{run.info.run_id}/note.txt", run.info.run_id)
        runs.append(run.info.run_id)
    return runs


def test_aliases_move_and_resolve(tracking_uri: str, tmp_path: Path) -> None:
    runs = _register_two_versions(tmp_path)
    assert alias_version(NAME, CHAMPION) is None
    assert alias_version("no-such-model", CHAMPION) is None
    set_alias(NAME, CHAMPION, 1)
    assert alias_version(NAME, CHAMPION) == 1
    set_alias(NAME, CHAMPION, 2)
    assert alias_version(NAME, CHAMPION) == 2
    assert resolve_version(f"models:/{NAME}@{CHAMPION}") == (NAME, 2)
    assert resolve_version(f"models:/{NAME}/1") == (NAME, 1)
    assert version_run_id(NAME, 1) == runs[0]
    with pytest.raises(BtcrlError, match="has no alias 'challenger'"):
        resolve_version(f"models:/{NAME}@challenger")
    with pytest.raises(BtcrlError, match="version 9 not found"):
        resolve_version(f"models:/{NAME}/9")
    with pytest.raises(BtcrlError, match="names no registered version"):
        resolve_version(f"runs:/{runs[0]}/model")
    with pytest.raises(BtcrlError, match="cannot set"):
        set_alias(NAME, CHAMPION, 7)


def test_version_tags_and_description(tracking_uri: str, tmp_path: Path) -> None:
    _register_two_versions(tmp_path)
    describe_version(
        NAME, 2, {tag_names.OOS_DSR: 0.97, "btcrl.algo": "ppo", "skip": None}, "made by X"
    )
    assert version_tags(NAME, 2) == {tag_names.OOS_DSR: "0.97", "btcrl.algo": "ppo"}
    assert version_tags(NAME, 1) == {}
    client = mlflow.tracking.MlflowClient()
    assert client.get_model_version(NAME, "2").description == "made by X"


def test_tag_challenger_writes_the_promote_contract(tracking_uri: str, tmp_path: Path) -> None:
    runs = _register_two_versions(tmp_path)
    windows = [(date(2024, 1, 1), date(2024, 3, 31))]
    tag_challenger(
        NAME,
        2,
        dsr=0.9712345678,
        oos_sharpe=0.0421,
        parent_run_id=runs[0],
        windows=windows,
        tags={"btcrl.algo": "ppo", tag_names.OOS_DSR: "overridden by the contract"},
        description="walk-forward 4 segments",
    )
    assert version_tags(NAME, 2) == {
        "btcrl.algo": "ppo",
        tag_names.OOS_DSR: "0.971235",
        "btcrl.oos_sharpe": "0.042100",
        "btcrl.parent_run_id": runs[0],
        "btcrl.oos_windows": '[["2024-01-01", "2024-03-31"]]',
    }
    assert alias_version(NAME, CHALLENGER) == 2
    assert alias_version(NAME, CHAMPION) is None


def test_download_run_artifact(tracking_uri: str, tmp_path: Path) -> None:
    runs = _register_two_versions(tmp_path)
    local = download_run_artifact(runs[1], "note.txt", tmp_path / "dl")
    assert local.read_text() == "run 1"
    with pytest.raises(BtcrlError, match="has no artifact oos_returns.csv"):
        download_run_artifact(runs[1], "oos_returns.csv", tmp_path / "dl")


def test_windows_tag_round_trip() -> None:
    windows = [(date(2024, 1, 1), date(2024, 3, 31)), (date(2024, 4, 1), date(2024, 6, 30))]
    text = format_windows(windows)
    assert text == '[["2024-01-01", "2024-03-31"], ["2024-04-01", "2024-06-30"]]'
    assert parse_windows(text) == windows
    with pytest.raises(BtcrlError, match="ends before it starts"):
        parse_windows('[["2024-02-01", "2024-01-01"]]')
    with pytest.raises(BtcrlError, match="not a list"):
        parse_windows("2024-01-01")
