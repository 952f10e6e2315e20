"""A seed ensemble: one policy whose action is the mean of its members' deterministic actions.

Each member acts in the env's action space after its own squash or clip (``predict``), then
the actions are averaged. Members must be models of one observation and one env: the same
FeatureSpec layout (``spec_hash``) and fitted params, and the same ``env`` section (its
window included); anything else is a one-line ConfigError. Members may be of different
algorithms.

``LoadedEnsemble`` stands where a ``btcrl.policy.loader.LoadedPolicy`` does (``predict``,
``spec``, ``config``, ``model.policy``): ``btcrl.policy.episode.model_policy`` recognises its
``model.policy`` (a ``MemberPolicies``) and runs the members' MLPs inside the compiled
episode runner (``btcrl.env.episode_runner.ensemble_forward``) when every member is an MLP,
else their mean ``predict`` step by step.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from btcrl.config import ExperimentConfig
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSpec
from btcrl.policy.episode import MemberPolicies

#: the artifacts of member k >= 1 in an ensemble's pyfunc model (member 0 has the plain
#: ``sb3_model`` and ``config``; the FeatureSpec is shared)
MEMBER_MODEL, MEMBER_CONFIG = "sb3_model_{}", "config_{}"


class Member(Protocol):
    """What an ensemble needs of a member (``btcrl.policy.loader.LoadedPolicy``)."""

    model: Any
    spec: FeatureSpec
    config: ExperimentConfig
    model_uri: str

    def predict(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class EnsembleModel:
    """The ``model`` of a ``LoadedEnsemble``: ``policy`` names the members; ``device`` is the
    CPU (members load onto it)."""

    policy: MemberPolicies
    device: Any = None


def mean_action(actions: Sequence[np.ndarray]) -> np.ndarray:
    """The members' actions float32 (N, 2) each, summed in member order and divided by their
    count in float32 (as the compiled ``ensemble_forward``)."""
    total = np.array(actions[0], dtype=np.float32, copy=True)
    for more in actions[1:]:
        total += np.asarray(more, dtype=np.float32)
    if len(actions) > 1:
        total /= np.float32(len(actions))
    return total


def check_members(members: Sequence[Member]) -> None:
    """ConfigError unless ``members`` (at least one) observe the same features the same way
    and trade under the same env rules (FeatureSpec layout, fitted params, ``env`` section)."""
    if not members:
        raise ConfigError("an ensemble needs at least one member model, got none")
    first = members[0]
    for other in members[1:]:
        name = other.model_uri
        if other.spec.spec_hash != first.spec.spec_hash:
            raise ConfigError(
                f"ensemble member {name} observes other features (spec hash "
                f"{other.spec.spec_hash}) than {first.model_uri} ({first.spec.spec_hash})"
            )
        if other.spec.fitted != first.spec.fitted:
            raise ConfigError(
                f"ensemble member {name} has other fitted feature params than {first.model_uri}"
            )
        if other.config.env != first.config.env:
            mine, theirs = first.config.env.model_dump(), other.config.env.model_dump()
            keys = sorted(k for k in mine if mine[k] != theirs[k])
            raise ConfigError(
                f"ensemble member {name} trades under another env than {first.model_uri}: "
                f"env.{keys[0]}={theirs[keys[0]]!r}, not {mine[keys[0]]!r}"
            )


@dataclass
class LoadedEnsemble:
    """Member policies served as one: ``predict(obs)`` float32 (N, obs_size) -> float32
    (N, 2), the mean of the members' deterministic actions. ``spec`` and ``config`` are the
    first member's (all share the observation and env; ``check_members``)."""

    members: tuple[Member, ...]
    model_uri: str
    source_run_id: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    _model: EnsembleModel | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_members(self.members)

    @property
    def spec(self) -> FeatureSpec:
        return self.members[0].spec

    @property
    def config(self) -> ExperimentConfig:
        return self.members[0].config

    @property
    def model(self) -> EnsembleModel:
        if self._model is None:
            policies = tuple(m.model.policy for m in self.members)
            predicts = tuple(m.predict for m in self.members)
            self._model = EnsembleModel(MemberPolicies(policies, predicts))
        return self._model

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return mean_action([member.predict(obs) for member in self.members])


def ensemble_of(
    members: Sequence[Member], model_uri: str = "ensemble", **names: Any
) -> LoadedEnsemble:
    """The ensemble of ``members`` (ConfigError unless they share observation and env);
    ``names``: ``source_run_id``, ``model_name``, ``model_version``."""
    return LoadedEnsemble(tuple(members), model_uri, **names)
