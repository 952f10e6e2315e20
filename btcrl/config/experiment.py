"""The root of the config tree."""

from typing import Any

from pydantic import Field, ValidationError, model_validator

from btcrl.config.agent import AgentConfig
from btcrl.config.backtest import BacktestConfig
from btcrl.config.base import Section
from btcrl.config.data import DataConfig
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.config.pretrain import PretrainConfig
from btcrl.config.promote import PromoteConfig
from btcrl.config.tracking import TrackingConfig
from btcrl.config.train import TrainConfig
from btcrl.config.tune import TuneConfig
from btcrl.config.walkforward import WalkforwardConfig

#: the reward of the shipped residual agent (the comparison of docs/training.md chose it)
RESIDUAL_REWARD = "excess_log_return"


class ExperimentConfig(Section):
    """Everything a run needs; sub-configs are handed to the functions that use them.

    The shipped recipe (issue 21, docs/training.md) is a residual agent around the
    ``trend_voltarget`` prior: ``features.prior.enabled`` defaults to true here, and
    ``env.action_mode`` to ``residual`` when the prior is enabled and ``env.action_levels``
    unset (``absolute`` otherwise), and in residual mode ``env.reward`` to
    ``excess_log_return`` (:func:`shipped_env`).
    These two defaults live here, not in their sections, so that ``EnvConfig()`` and
    ``FeaturesConfig()`` built in code keep the engine's plain meaning (absolute actions,
    no prior columns); a YAML file or override that sets either key wins. The shipped
    default env is ``ExperimentConfig().env`` (what ``model_env`` compares against).
    """

    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    env: EnvConfig = EnvConfig()
    agent: AgentConfig = AgentConfig()
    train: TrainConfig = TrainConfig()
    backtest: BacktestConfig = BacktestConfig()
    tune: TuneConfig = TuneConfig()
    promote: PromoteConfig = PromoteConfig()
    walkforward: WalkforwardConfig = WalkforwardConfig()
    pretrain: PretrainConfig = PretrainConfig()
    tracking: TrackingConfig = TrackingConfig()
    seed: int = Field(42, ge=0, lt=2**31)

    @model_validator(mode="before")
    @classmethod
    def _shipped_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if _fill(data, ("features", "prior", "enabled"), True):
            data["env"] = _residual_env(data.get("env"))
        return data

    @model_validator(mode="after")
    def _check_prior(self) -> "ExperimentConfig":
        if self.env.action_mode == "residual" and not self.features.prior.enabled:
            raise ValueError(
                f"env.action_mode residual trades around env.prior {self.env.prior!r}, whose "
                "columns need features.prior.enabled: true"
            )
        return self


def shipped_action_mode(prior: bool, action_levels: object) -> str:
    """The action mode the shipped recipe derives: residual around the prior when its
    columns are on and no discrete ``action_levels`` are set, absolute otherwise."""
    return "residual" if prior and not action_levels else "absolute"


def shipped_env(action_mode: str) -> dict[str, str]:
    """The env values the shipped recipe derives (issue 21.6, docs/training.md): with the
    prior on, a residual agent paid its excess over the prior (``excess_log_return``);
    absolute mode keeps EnvConfig's own defaults. The one rule :func:`_residual_env` fills
    and ``btcrl.config.loader`` re-derives when the prior or the action mode changes."""
    if action_mode == "residual":
        return {"action_mode": "residual", "reward": RESIDUAL_REWARD}
    return {"action_mode": action_mode, "reward": EnvConfig.model_fields["reward"].default}


def _residual_env(env: Any) -> Any:
    """``env`` (a mapping, None or a built EnvConfig) with ``action_mode`` residual unless it
    names one or ``action_levels`` (the discrete action mode, absolute), and in residual mode
    ``reward`` :data:`RESIDUAL_REWARD` unless named. Filled values are defaults, not choices:
    they stay out of the section's ``model_fields_set``, so a backtest of a model does not
    read them as overrides (``btcrl.backtest.model_source.model_env``). Invalid sections go
    on unchanged, for the normal validation error."""
    if env is not None and not isinstance(env, dict):
        return env  # a built section: its own value stands
    given = dict(env or {})
    mode = given.get("action_mode") or shipped_action_mode(True, given.get("action_levels"))
    derived = (
        {} if mode == "absolute" else {k: v for k, v in shipped_env(mode).items() if k not in given}
    )  # absolute mode: EnvConfig's own defaults
    if not derived:
        return given
    try:
        built = EnvConfig(**given, **derived)
    except ValidationError:
        return {**given, **derived}
    for name in derived:
        built.__pydantic_fields_set__.discard(name)
    return built


def _fill(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> Any:
    """Set ``path`` in the raw ``tree`` to ``value`` unless given; returns the value in force.
    A section given as a built model (not a mapping) is left as it is."""
    node: Any = tree
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = {}
        elif isinstance(child, dict):
            child = dict(child)
        else:  # a built section: its own value stands
            for rest in path[depth + 1 :]:
                child = getattr(child, rest)
            return child
        node[key] = child
        node = child
    return node.setdefault(path[-1], value)
