import re
from pathlib import Path

import pytest

from btcrl.config import ExperimentConfig, flatten_config, load_config, with_overrides
from btcrl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_default_yaml_equals_code_defaults() -> None:
    assert load_config(ROOT / "configs" / "default.yaml") == ExperimentConfig()


def test_overrides_are_parsed_as_yaml_values() -> None:
    config = load_config(None, ["env.fee_rate=0.0005", "agent.net_arch=[128, 32]", "seed=7"])
    assert config.env.fee_rate == 0.0005
    assert config.agent.net_arch == (128, 32)
    assert config.seed == 7


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("env.fee_rate=-1", "config key env.fee_rate=-1 is invalid: Input should be greater"),
        ("agent.algo=dqn", "'ppo', 'sac', 'tqc' or 'crossq'"),
        ("env.no_such_key=1", "config key env.no_such_key is unknown"),
        ("data.timeframe=1x", "data.timeframe='1x'"),
        ("data.source=ftp", "must be 'sample', 'ccxt', 'csv:PATH', or a stored key"),
        ("novalue", "must look like key.path=value"),
    ],
)
def test_bad_values_name_key_value_and_allowed(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        load_config(None, [override])
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError, match="end 2024-01-01 is before start 2024-01-02"):
        load_config(None, ["data.start=2024-01-02", "data.end=2024-01-01"])
    with pytest.raises(ConfigError, match="max_stop_pct 0.01 is below min_stop_pct 0.05"):
        load_config(None, ["env.min_stop_pct=0.05", "env.max_stop_pct=0.01"])


def test_bad_yaml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_flatten_and_with_overrides() -> None:
    config = with_overrides(ExperimentConfig(), {"env.leverage_limit": 2.0})
    flat = flatten_config(config)
    assert flat["env.leverage_limit"] == "2.0"
    assert flat["agent.algo"] == "ppo"


def test_metrics_left_at_the_default_follow_a_new_objective() -> None:
    from btcrl.config import ExperimentConfig, with_overrides

    base = ExperimentConfig()
    assert base.tune.metrics == ("oos/sharpe",)
    holdout = with_overrides(base, {"tune.objective": "holdout"})
    assert holdout.tune.metrics == ("val/sharpe",)
    chosen = with_overrides(base, {"tune.objective": "holdout", "tune.metrics": ["val/sortino"]})
    assert chosen.tune.metrics == ("val/sortino",)
    kept = with_overrides(base, {"tune.metrics": ["oos/sortino"]})
    assert with_overrides(kept, {"tune.trials": 3}).tune.metrics == ("oos/sortino",)
