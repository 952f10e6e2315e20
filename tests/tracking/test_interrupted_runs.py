"""A signal that surfaces as a library's own error (raised while it unwinds) still ends the
run KILLED with the signal as the reason, and the CLI exits 130, not 1."""

import mlflow
import pytest

from btcrl.errors import interruption
from btcrl.tracking import start_run


def _checkpoint_write_interrupted() -> None:
    try:
        raise KeyboardInterrupt("signal 15")
    except KeyboardInterrupt:  # what torch.save's zip writer does on the way out
        raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from None


def test_interruption_finds_the_signal_behind_a_library_error() -> None:
    with pytest.raises(RuntimeError, match="unexpected pos") as caught:
        _checkpoint_write_interrupted()
    found = interruption(caught.value)
    assert isinstance(found, KeyboardInterrupt) and str(found) == "signal 15"
    assert interruption(RuntimeError("plain failure")) is None
    assert interruption(ValueError("a")) is None


def test_run_interrupted_inside_a_library_ends_killed(tracking_uri: str) -> None:
    with (
        pytest.raises(RuntimeError, match="unexpected pos"),
        start_run("btcrl-test", "train") as run,
    ):
        _checkpoint_write_interrupted()
    ended = mlflow.MlflowClient().get_run(run.info.run_id)
    assert ended.info.status == "KILLED"
    assert "signal 15" in ended.data.tags["btcrl.end_reason"]


def test_run_failing_for_its_own_reason_ends_failed(tracking_uri: str) -> None:
    with (
        pytest.raises(RuntimeError, match="^plain failure$"),
        start_run("btcrl-test", "train") as run,
    ):
        raise RuntimeError("plain failure")
    assert mlflow.MlflowClient().get_run(run.info.run_id).info.status == "FAILED"
