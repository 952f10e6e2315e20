"""Backtests of a trained model: tags, overlap, compatibility, train-then-backtest."""

import logging
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from btcrl.backtest import backtest_after_training, run_backtest
from btcrl.cli import main
from btcrl.config import load_config
from btcrl.errors import CompatibilityError

from .conftest import bt_overrides


def _config(home: Path, *extra: str):
    return load_config(None, [*bt_overrides(home), "backtest.plots=false", *extra])


def test_model_backtest_tags_and_overlap(
    bt_home: Path, trained_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    name, version = trained_model.removeprefix("models:/").split("/")
    uri = f"models:/{name}@candidate"
    # after training (train and validation end 2024-09-30): no overlap
    after = run_backtest(
        _config(bt_home, "data.start=2024-10-01", "data.end=2024-10-20"), model_uri=uri
    )
    tags = mlflow.get_run(after.run_id).data.tags
    assert tags["btcrl.model_uri"] == uri
    assert tags["btcrl.model_name"] == name
    assert tags["btcrl.model_version"] == version
    assert tags["btcrl.model_alias"] == "candidate"
    assert len(tags["btcrl.source_run_id"]) == 32  # the train run
    assert tags["btcrl.in_sample"] == "false"
    assert not after.warnings and not after.in_sample
    assert after.summary["in_sample"] is False
    # over the validation span: a warning and the tag
    inside = run_backtest(
        _config(bt_home, "data.start=2024-09-01", "data.end=2024-09-20", "backtest.plots=true"),
        model_uri=trained_model,
    )
    assert mlflow.get_run(inside.run_id).data.tags["btcrl.in_sample"] == "true"
    assert any("validation span" in w for w in inside.warnings)
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and "IN-SAMPLE" in r.message]
    assert not said  # the summary's first line says it; a warning would say it twice
    # ... and it says so in the summary, summary.json and the run name
    assert inside.in_sample and inside.summary["in_sample"] is True
    spans = inside.summary["in_sample_spans"]
    assert [s.split(" span")[0] for s in spans] == ["train", "validation"]
    run = mlflow.get_run(inside.run_id)
    assert "[IN-SAMPLE]" in run.info.run_name
    local = Path(mlflow.artifacts.download_artifacts(run_id=inside.run_id))
    assert '"in_sample": true' in (local / "summary.json").read_text()
    report = (local / "report.html").read_text()
    assert report.count("[IN-SAMPLE]: ") == 5  # every plot title
    assert '<p class="warn">IN-SAMPLE: the period overlaps the model' in report
    # strict: an error, before anything is logged
    with pytest.raises(CompatibilityError, match="overlaps"):
        run_backtest(
            _config(
                bt_home, "data.start=2024-09-01", "data.end=2024-09-20", "backtest.strict=true"
            ),
            model_uri=trained_model,
        )


def test_spec_mismatch_is_a_one_line_error(bt_home: Path, trained_model: str) -> None:
    sets = [part for item in bt_overrides(bt_home) for part in ("--set", item)]
    args = [
        "backtest",
        *sets,
        "--model",
        trained_model,
        "--start",
        "2024-10-01",
        "--end",
        "2024-10-20",
        "--set",
        "backtest.use_model_config=false",
        "--set",
        "features.strategies=[ott, supertrend]",
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "strategies differs" in errors[0]


def test_a_registered_model_runs_compiled(trained_model: str, bt_home: Path) -> None:
    import numpy as np

    from btcrl.policy import load_policy
    from btcrl.policy.episode import MlpPolicy, model_policy

    mlflow.set_tracking_uri(f"sqlite:///{bt_home / 'mlruns' / 'mlflow.db'}")
    loaded = load_policy(trained_model)
    policy = model_policy(loaded.model.policy, loaded.predict)
    assert isinstance(policy, MlpPolicy)
    obs = np.random.default_rng(5).normal(0, 3, (200, loaded.spec.observation_size))
    obs = obs.astype(np.float32)
    np.testing.assert_allclose(policy.actor.forward(obs), loaded.predict(obs), rtol=0, atol=1e-5)
    for row in obs[:20]:
        np.testing.assert_allclose(policy.act(0, row), loaded.predict(row)[0], rtol=0, atol=1e-5)


def test_backtest_after_training_nests_under_the_train_run(
    bt_home: Path, trained_model: str
) -> None:
    from btcrl.policy import load_policy

    mlflow.set_tracking_uri(f"sqlite:///{bt_home / 'mlruns' / 'mlflow.db'}")
    parent = load_policy(trained_model).source_run_id
    config = _config(bt_home, "backtest.start=2024-10-01", "backtest.end=2024-10-15")
    headline = backtest_after_training(config, trained_model, parent)
    assert {"total_return", "sharpe", "max_drawdown", "bh_total_return"} <= set(headline)
    children = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
        output_format="list",
    )
    assert len(children) == 1
    child = children[0]
    assert child.data.tags["btcrl.stage"] == "backtest"
    assert child.data.metrics["total_return"] == headline["total_return"]
    assert child.info.experiment_id == mlflow.get_run(parent).info.experiment_id
