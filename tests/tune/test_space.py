"""Search spaces: shipped files load, sampling respects the space, bad files fail early."""

import json
import re
from pathlib import Path

import optuna
import pytest

from btcrl.config import load_config, with_overrides
from btcrl.errors import ConfigError
from btcrl.tune.space import decode_params, load_space, resolve_space_path, sample_params

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("algo", ["ppo", "sac", "tqc"])
def test_shipped_spaces_load_and_sample_valid_configs(algo: str) -> None:
    config = load_config(None, [f"agent.algo={algo}"])
    space = load_space(resolve_space_path(None, algo), config)
    keys = {p.key for p in space.params}
    for key in (
        "env.reward",
        "env.downside_weight",
        "env.exposure_deadzone",
        "env.min_stop_pct",
        "env.max_stop_pct",
        "env.leverage_limit",
    ):
        assert key in keys
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = sample_params(trial, space)
        trial_config = with_overrides(config, params)  # every sample is a valid config
        assert trial_config.env.min_stop_pct < trial_config.env.max_stop_pct
        assert ("env.downside_weight" in params) == (params["env.reward"] == "asymmetric_drawdown")
        assert ("env.dsr_eta" in params) == (params["env.reward"] == "differential_sharpe")
        assert isinstance(trial_config.agent.net_arch, tuple)
        study.tell(trial, 0.0)


def test_list_choices_round_trip_through_labels(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("params:\n  agent.net_arch: {type: categorical, choices: [[8], [16, 16]]}\n")
    space = load_space(path, load_config())
    study = optuna.create_study()
    trial = study.ask()
    value = sample_params(trial, space)["agent.net_arch"]
    assert value in ([8], [16, 16])
    assert trial.params["agent.net_arch"] == json.dumps(value)
    assert decode_params(trial.params, space) == {"agent.net_arch": value}


def test_space_is_found_from_another_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_space_path(None, "sac") == REPO / "configs" / "spaces" / "sac.yaml"
    assert resolve_space_path("tqc", "ppo").name == "tqc.yaml"
    local = tmp_path / "configs" / "spaces"
    local.mkdir(parents=True)
    (local / "ppo.yaml").write_text("params: {}\n")
    assert resolve_space_path(None, "ppo") == local / "ppo.yaml"  # the cwd's copy wins
    with pytest.raises(ConfigError, match="'nope' not found"):
        resolve_space_path("nope", "ppo")


BAD_SPACES = {
    "not yaml": ("params: [unclosed\n", "not valid YAML"),
    "no params": ("algo: ppo\n", "'params' mapping"),
    "unknown key": ("params:\n  agent.nope: {type: float, low: 0, high: 1}\n", "'agent.nope'"),
    "tune key": ("params:\n  tune.trials: {type: int, low: 1, high: 3}\n", "cannot be tuned"),
    "bad type": ("params:\n  agent.gamma: {type: normal, low: 0.9, high: 1}\n", "agent.gamma"),
    "low>=high": ("params:\n  agent.gamma: {type: float, low: 0.99, high: 0.9}\n", "below high"),
    "log<=0": (
        "params:\n  agent.ent_coef: {type: float, low: 0, high: 0.1, log: true}\n",
        "log needs low > 0",
    ),
    "out of bounds": (
        "params:\n  env.leverage_limit: {type: float, low: 1, high: 50}\n",
        "env.leverage_limit value 50",
    ),
    "bad choice": (
        "params:\n  agent.activation: {type: categorical, choices: [tanh, sigmoid]}\n",
        "'sigmoid'",
    ),
    "empty choices": (
        "params:\n  agent.activation: {type: categorical, choices: []}\n",
        "non-empty list",
    ),
    "extra field": (
        "params:\n  agent.gamma: {type: float, low: 0.9, high: 1, lg: true}\n",
        "unknown field 'lg'",
    ),
    "bad when": (
        "params:\n  env.downside_weight: {type: float, low: 1, high: 2, when: {env.reward: x}}\n",
        "not an earlier param",
    ),
    "int not whole": (
        "params:\n  agent.n_steps: {type: int, low: 64, high: 512.5}\n",
        "not whole numbers",
    ),
    "bool bound": ("params:\n  agent.gamma: {type: float, low: true, high: 1}\n", "gamma.low"),
    "wrong algo": (
        "algo: sac\nparams:\n  agent.gamma: {type: float, low: 0.9, high: 1}\n",
        "for algo 'sac'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_SPACES))
def test_malformed_space_is_a_one_line_config_error(tmp_path: Path, name: str) -> None:
    text, expected = BAD_SPACES[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^search space {re.escape(str(path))}") as info:
        load_space(path, load_config())
    message = str(info.value)
    assert "\n" not in message
    assert expected in message
    assert str(path) in message
