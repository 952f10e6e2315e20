"""A backtest of a model trades under the model's rules with the costs it is asked for: a
cost override (fee, slippage, borrow rate) is used and logged, a rule override is an error
that says why, never silently dropped."""

import io
import logging
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from btcrl.backtest.model_source import model_env
from btcrl.cli import main
from btcrl.config import load_config
from btcrl.config.env import COST_FIELDS, RULE_FIELDS, EnvConfig
from btcrl.errors import ConfigError

from .conftest import bt_overrides


def test_every_env_field_is_a_cost_or_a_rule() -> None:
    costs, rules = set(COST_FIELDS), set(RULE_FIELDS)
    assert len(costs) == len(COST_FIELDS) and len(rules) == len(RULE_FIELDS)  # no repeats
    assert costs & rules == set()
    assert costs | rules == set(EnvConfig.model_fields)


def _asked(*overrides: str) -> EnvConfig:
    return load_config(None, list(overrides)).env


def test_costs_follow_the_backtest_and_rules_the_model() -> None:
    trained = EnvConfig(fee_rate=0.0005, slippage_bps=1.0, leverage_limit=2.0)
    env = model_env(_asked("env.fee_rate=0.002"), trained)
    assert (env.fee_rate, env.slippage_bps, env.leverage_limit) == (0.002, 1.0, 2.0)
    # named in the config: used, even when it is the code default
    assert model_env(_asked("env.fee_rate=0.001"), trained).fee_rate == 0.001
    assert model_env(_asked(), trained) == trained  # nothing asked: the model's env
    # a rule the config repeats with the model's value is no override
    assert model_env(_asked("env.leverage_limit=2.0"), trained).leverage_limit == 2.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.allow_short=true", "env.allow_short=true: the model was trained with "
         "env.allow_short=false, and a backtest trades a policy under the rules it learned"),
        ("env.leverage_limit=1.0", "env.leverage_limit=1.0: the model was trained with "
         "env.leverage_limit=2.0"),
        ("env.action_levels=[0, 1]", "env.action_levels=[0.0, 1.0]: the model was trained "
         "with env.action_levels=null"),
    ],
)  # fmt: skip
def test_a_rule_override_is_an_error_that_says_why(override: str, message: str) -> None:
    trained = EnvConfig(leverage_limit=2.0)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}") as caught:
        model_env(_asked(override), trained)
    assert "only the costs (fee_rate, slippage_bps, borrow_rate_annual)" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def long_only_model(bt_home: Path) -> str:
    """A tiny long-only PPO (the shipped recipe's rule) on 2024-07..09; its URI."""
    import os

    from btcrl.agents import run_training

    os.environ.pop("MLFLOW_RUN_ID", None)
    config = load_config(
        None,
        [
            *bt_overrides(bt_home),
            "env.allow_short=false",
            "env.exposure_deadzone=0",
            "env.fee_rate=0.001",
            "data.start=2024-07-01",
            "data.end=2024-09-30",
            "train.total_timesteps=128",
            "train.n_envs=2",
            "train.eval_every=128",
            "train.model_name=btcrl-ppo-longonly",
            "agent.n_steps=64",
            "agent.batch_size=64",
            "agent.n_epochs=1",
            "env.episode_length=64",
            "train.system_metrics=false",
        ],
    )
    return run_training(config).model_uri


def _backtest(bt_home: Path, model: str, *sets: str) -> tuple[int, str]:
    """``btcrl backtest --model MODEL`` on 2024-10-01..20 in ``bt_home``'s store; (exit code,
    output)."""
    store = [
        f"data.data_dir={bt_home / 'data'}",
        f"tracking.uri=sqlite:///{bt_home / 'mlruns' / 'mlflow.db'}",
        "backtest.plots=false",
    ]
    args = ["backtest", "--model", model, "--start", "2024-10-01", "--end", "2024-10-20"]
    args += [part for item in [*store, *sets] for part in ("--set", item)]
    out = CliRunner().invoke(main, args)
    return out.exit_code, out.output


def _run_id(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("run id:"))


def test_a_backtest_trades_at_the_fee_it_is_given_and_logs_it(
    bt_home: Path, long_only_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="btcrl.backtest.model_source"):
        code, output = _backtest(bt_home, long_only_model, "env.fee_rate=0.002")
    assert code == 0, output
    assert "fee_rate=0.002 (set; the model trained with 0.001)" in caplog.text
    mlflow.set_tracking_uri(f"sqlite:///{bt_home / 'mlruns' / 'mlflow.db'}")
    run = mlflow.get_run(_run_id(output))
    assert run.data.params["env.fee_rate"] == "0.002"
    steps = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/steps.csv")
    frame = pd.read_csv(io.StringIO(steps))
    filled = frame[frame["fill_qty"] != 0]
    assert len(filled) > 0
    notional = (filled["fill_qty"].abs() * filled["fill_price"]).to_numpy()
    np.testing.assert_allclose(filled["fill_fee"].to_numpy(), 0.002 * notional, rtol=1e-9)


def test_a_rule_override_of_a_model_is_a_one_line_error(
    bt_home: Path, long_only_model: str
) -> None:
    code, output = _backtest(bt_home, long_only_model, "env.allow_short=true")
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: env.allow_short=true: the model was trained with env.allow_short=false"
    )
