"""The segment models the stitch trades: kept in memory by the process that trained them.

A worker that trains a job remembers the chosen model under its model URI. When the same
process stitches (one in-process worker: ``--workers 1``, the benchmark), the stitch takes
it from here instead of downloading and loading the logged model it just wrote; it is the
same checkpoint (``tests/walkforward/test_policies.py`` checks equal actions). Spawned
workers' models live in their own processes, so the parent loads those from the store. Only
CPU models are kept, as ``load_policy`` loads onto the CPU.
"""

import logging
from typing import TYPE_CHECKING

from btcrl.config import ExperimentConfig
from btcrl.features.spec import FeatureSpec

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from btcrl.policy.ensemble import LoadedEnsemble
    from btcrl.policy.loader import LoadedPolicy

log = logging.getLogger(__name__)

_TRAINED: dict[str, "LoadedPolicy"] = {}


def remember_policy(
    model_uri: str, model: "BaseAlgorithm", spec: FeatureSpec, config: ExperimentConfig
) -> None:
    """Keep ``model`` (trained with ``spec`` and ``config``, logged as ``model_uri``) for
    ``take_policy``; a model on another device than the CPU is not kept."""
    from btcrl.policy.loader import LoadedPolicy

    if model.device.type != "cpu":
        return
    _TRAINED[model_uri] = LoadedPolicy(model=model, spec=spec, config=config, model_uri=model_uri)


def take_policy(model_uri: str) -> "LoadedPolicy | LoadedEnsemble":
    """The model of ``model_uri``: the one this process trained (handed out once, then
    forgotten), else ``load_policy(model_uri)`` from the store."""
    kept = _TRAINED.pop(model_uri, None)
    if kept is not None:
        log.debug("stitching %s from memory", model_uri)
        return kept
    from btcrl.policy import load_policy

    return load_policy(model_uri)


def forget_policies() -> None:
    """Drop every kept model."""
    _TRAINED.clear()
