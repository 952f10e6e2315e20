"""No credential in any param, tag, artifact or log line (issue 12.3).

Passwords are planted in a PostgreSQL storage URL (``tune.storage``) and in ``data.api_url``;
redaction happens once, in ``flatten_config`` / ``dump_config`` (``btcrl.config.redact``).
"""

import logging
from pathlib import Path

import mlflow
import pytest
import yaml

from btcrl.config import ExperimentConfig, dump_config, flatten_config, load_config, with_overrides
from btcrl.config.redact import redact
from btcrl.data.ccxt_source import api_credentials
from btcrl.errors import ConfigError

PLANTED = "Pl4nted-s3cret"
STORAGE = f"postgresql://btcrl:{PLANTED}@127.0.0.1:5432/btcrl"
API_URL = f"http://trader:{PLANTED}@127.0.0.1:9/"


def _planted(**more: object) -> ExperimentConfig:
    return with_overrides(
        ExperimentConfig(), {"tune.storage": STORAGE, "data.api_url": API_URL, **more}
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://btcrl:pw@127.0.0.1:5432/db", "postgresql://btcrl:***@127.0.0.1:5432/db"),
        ("postgresql+psycopg2://u:p@ss@h/db", "postgresql+psycopg2://u:***@h/db"),  # raw '@'
        ("http://u:pw@host:1/x?token=abc&x=1", "http://u:***@host:1/x?token=***&x=1"),
        ("https://host/api?apiKey=K1&secret=S2", "https://host/api?apiKey=***&secret=***"),
        ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),  # nothing secret
        ("http://127.0.0.1:8080/path", "http://127.0.0.1:8080/path"),
        # a bare user name may be a token (issue 23.2): it is masked whole
        ("http://TOKEN123@host/", "http://***@host/"),
        ("see 'https://u:p@h' and ftp://anon@h:21", "see 'https://u:***@h' and ftp://***@h:21"),
        ("HTTPConnectionPool(host='h', port=1): /x", "HTTPConnectionPool(host='h', port=1): /x"),
    ],
)
def test_redact_masks_only_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_flatten_and_dump_never_carry_the_password() -> None:
    config = _planted()
    flat = flatten_config(config)
    assert flat["tune.storage"] == "postgresql://btcrl:***@127.0.0.1:5432/btcrl"
    assert flat["data.api_url"] == "http://trader:***@127.0.0.1:9/"
    assert not any(PLANTED in value for value in flat.values())
    text = dump_config(config)
    assert PLANTED not in text
    assert yaml.safe_load(text)["tune"]["storage"] == flat["tune.storage"]
    assert config.tune.storage == STORAGE  # the live config keeps what it needs to connect


def test_exchange_keys_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config key data.api_key is unknown"):
        load_config(None, ["data.api_key=abc"])
    monkeypatch.delenv("BTCRL_KRAKEN_API_KEY", raising=False)
    assert api_credentials("kraken") == {}
    monkeypatch.setenv("BTCRL_KRAKEN_API_KEY", "k")
    monkeypatch.setenv("BTCRL_KRAKEN_API_SECRET", "s")
    assert api_credentials("kraken") == {"apiKey": "k", "secret": "s"}


def _grep_store(tracking_uri: str, tmp_path: Path) -> list[str]:
    """Where the planted password appears: params, tags, run and logged-model artifacts."""
    client = mlflow.MlflowClient()
    found: list[str] = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    assert runs, "no run was logged"
    for run in runs:
        for kind, values in (("param", run.data.params), ("tag", run.data.tags)):
            found += [f"{kind} {k}" for k, v in values.items() if PLANTED in str(v)]
        folder = Path(mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, dst_path=str(tmp_path / "runs" / run.info.run_id)
        ))  # fmt: skip
        found += _grep_files(folder)
    for model in client.search_logged_models(experiments):
        for kind, values in (("model param", model.params), ("model tag", model.tags)):
            found += [f"{kind} {k}" for k, v in (values or {}).items() if PLANTED in str(v)]
        folder = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=str(tmp_path / "models" / model.model_id)
        ))  # fmt: skip
        found += _grep_files(folder)
    return found


def _grep_files(folder: Path) -> list[str]:
    return [
        f"artifact {p}"
        for p in folder.rglob("*")
        if p.is_file() and PLANTED.encode() in p.read_bytes()
    ]


@pytest.mark.slow
def test_a_train_run_logs_no_planted_password(
    tracking_uri: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from btcrl.agents import run_training
    from btcrl.config import DataConfig, FeaturesConfig
    from btcrl.features import load_feature_set

    caplog.set_level(logging.INFO)
    data = DataConfig(data_dir=tmp_path / "data", start="2025-01-01")
    features = load_feature_set(data, FeaturesConfig())
    config = _planted(**{
        "tracking.uri": tracking_uri, "data.data_dir": str(tmp_path / "data"),
        "data.start": "2025-01-01", "train.total_timesteps": 512, "train.n_envs": 2,
        "train.eval_every": 256, "train.system_metrics": False, "train.torch_threads": 1,
        "env.episode_length": 128, "agent.n_steps": 64, "agent.batch_size": 64,
        "agent.n_epochs": 1, "agent.net_arch": [16, 16], "agent.device": "cpu",
        "env.action_mode": "absolute", "features.prior.enabled": False,  # features above
    })  # fmt: skip
    run_training(config, features=features)
    found = _grep_store(tracking_uri, tmp_path)
    assert found == []
    out, err = capfd.readouterr()
    assert PLANTED not in caplog.text + out + err


@pytest.mark.slow
def test_a_tune_run_logs_no_planted_password(
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Two real trials (tiny budget) with the password in ``data.api_url``: nothing in the
    parent run, the trial runs, their models, the logs or the terminal carries it."""
    from btcrl.tune import run_study

    caplog.set_level(logging.INFO)
    monkeypatch.chdir(tmp_path)
    config = _planted(**{
        "tracking.uri": tracking_uri, "data.data_dir": str(tmp_path / "data"),
        "data.start": "2025-01-01", "tune.storage": f"sqlite:///{tmp_path / 'study.db'}",
        "tune.objective": "holdout", "tune.holdout_months": 0,
        "tune.trials": 2, "tune.budget_timesteps": 256, "tune.budget_eval_every": 128,
        "tune.budget_n_envs": 2, "train.system_metrics": False, "env.episode_length": 64,
        "agent.n_steps": 32, "agent.batch_size": 64, "agent.n_epochs": 1,
        "agent.net_arch": [16, 16], "agent.device": "cpu",
    })  # fmt: skip
    run_study(config)
    found = _grep_store(tracking_uri, tmp_path)
    assert found == []
    out, err = capfd.readouterr()
    assert PLANTED not in caplog.text + out + err
