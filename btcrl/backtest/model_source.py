"""A registry or run model as a backtest's policy: load it, with the features and the env it
trades in (``btcrl.backtest.plan.attach_model`` then fits it to the data and checks the
period against the spans it was trained and validated on)."""

import logging
from typing import Any

from btcrl.config import ExperimentConfig
from btcrl.config.env import COST_FIELDS, RULE_FIELDS, EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.errors import ConfigError

log = logging.getLogger(__name__)


def model_inputs(config: ExperimentConfig, model_uri: str) -> tuple[Any, FeaturesConfig, EnvConfig]:
    """(loaded model, features config, env config) for ``model_uri``: the model's own
    features and trading rules with ``backtest.use_model_config`` (and the costs ``config``
    asks for, :func:`model_env`), else ``config``'s."""
    from btcrl.policy import load_policy

    loaded = load_policy(model_uri)
    if config.backtest.use_model_config:
        return loaded, loaded.config.features, model_env(config.env, loaded.config.env)
    window = {"window": loaded.config.env.window}  # the model's input: not a trading rule
    return loaded, config.features, config.env.model_copy(update=window)


def model_env(asked: EnvConfig, trained: EnvConfig) -> EnvConfig:
    """The env a model is backtested in: its own rules (``RULE_FIELDS``) with the costs
    (``COST_FIELDS``: fee, slippage, borrow rate) that ``asked`` sets, else the model's.

    A field counts as set when the config names it (``--set``, a config file) or its value
    differs from the shipped default (``ExperimentConfig().env``). A rule set to another
    value than the model was trained with raises a one-line ConfigError: the policy only
    ever acted under its own rules. The costs used are logged (and are the run's ``env.*``
    params).
    """
    default = ExperimentConfig().env  # the shipped default (residual around the prior)
    given = {
        n
        for n in EnvConfig.model_fields
        if n in asked.model_fields_set or getattr(asked, n) != getattr(default, n)
    }
    for name in RULE_FIELDS:
        want, have = getattr(asked, name), getattr(trained, name)
        if name in given and want != have:
            raise ConfigError(
                f"env.{name}={_text(want)}: the model was trained with env.{name}="
                f"{_text(have)}, and a backtest trades a policy under the rules it learned; "
                f"only the costs ({', '.join(COST_FIELDS)}) may differ "
                "(backtest.use_model_config=false trades it under your env instead)"
            )
    costs = {n: getattr(asked, n) for n in COST_FIELDS if n in given}
    env = trained.model_copy(update=costs)
    log.info("backtest costs: %s", _costs_text(env, trained, costs))
    return env


def _costs_text(env: EnvConfig, trained: EnvConfig, costs: dict[str, Any]) -> str:
    """``fee_rate=0.002 (set; the model trained with 0.001), slippage_bps=2.0 (the model's)``."""
    parts = []
    for name in COST_FIELDS:
        trained_with = f"set; the model trained with {_text(getattr(trained, name))}"
        source = trained_with if name in costs else "the model's"
        parts.append(f"{name}={_text(getattr(env, name))} ({source})")
    return ", ".join(parts)


def _text(value: Any) -> str:
    """A config value as it is written on the command line (``true``, ``null``, ``0.002``)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)
