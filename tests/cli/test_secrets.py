"""A planted password, or a token given as a bare user name, leaves through nothing: not the
terminal, the logs, the MLflow store or the data folder (issue 23.2)."""

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from btcrl.cli import main
from btcrl.cli.train import _store_uri

PLANTED = "Pl4nted-s3cret"


def _files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize(
    "api_url", [f"http://proxyuser:{PLANTED}@127.0.0.1:9", f"http://{PLANTED}@127.0.0.1:9"]
)
def test_a_failed_ingest_leaks_no_credential_of_its_api_url(
    tracking_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, api_url: str
) -> None:
    """ccxt's exception text carries the URL: the retry warnings, the error line and the
    run's ``btcrl.end_reason`` tag show it masked."""
    caplog.set_level(logging.WARNING)
    args = ["ingest", "--source", "ccxt", "--data-dir", str(tmp_path / "data"), "--no-features"]
    args += ["--set", f"data.api_url={api_url}", "--set", "data.retry_backoff_s=0"]
    args += ["--set", "data.max_retries=1", "--start", "2023-01-01", "--end", "2023-01-02"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "@127.0.0.1:9" in result.stderr
    assert "retry 1" in caplog.text  # the warning was logged, masked
    assert PLANTED not in result.output + result.stderr + caplog.text
    store = Path(tracking_uri.removeprefix("sqlite:///")).parent
    assert _files_holding(store, PLANTED) == []
    assert not (tmp_path / "data").exists() or _files_holding(tmp_path / "data", PLANTED) == []


def test_the_printed_ui_command_masks_the_store_password() -> None:
    uri = f"postgresql+psycopg2://btcrl:{PLANTED}@127.0.0.1:5432/mlflow"
    assert _store_uri(uri) == "postgresql+psycopg2://btcrl:***@127.0.0.1:5432/mlflow"
