"""A trained policy's files (actor.pt, SB3 zip, spec, config) and its ``metrics.json``.

Logging them as an MLflow model and registering it: :mod:`btcrl.tracking.models`.
"""

import json
import logging
from pathlib import Path

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.config import ExperimentConfig, dump_config
from btcrl.features.spec import FeatureSpec

log = logging.getLogger(__name__)

SB3_ZIP = "model.zip"
ACTOR_FILE = "actor.pt"
SPEC_FILE = "feature_spec.json"
CONFIG_FILE = "config.yaml"


def write_policy_files(
    model: BaseAlgorithm, spec: FeatureSpec, config: ExperimentConfig, out_dir: Path
) -> dict[str, Path]:
    """Save ``model.zip`` (SB3), ``actor.pt`` (policy state dict, CPU tensors),
    ``feature_spec.json`` and ``config.yaml`` into ``out_dir``; return them by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "sb3_model": out_dir / SB3_ZIP,
        "actor": out_dir / ACTOR_FILE,
        "feature_spec": out_dir / SPEC_FILE,
        "config": out_dir / CONFIG_FILE,
    }
    model.save(paths["sb3_model"])
    state = {k: v.detach().cpu() for k, v in model.policy.state_dict().items()}
    torch.save(state, paths["actor"])
    paths["feature_spec"].write_text(spec.to_json())
    paths["config"].write_text(dump_config(config))
    return paths


def validation_report(
    history: list[dict[str, float]], best: dict[str, float], best_step: int
) -> str:
    """The ``metrics.json`` text: every validation, and the one the model was chosen by."""
    return json.dumps(
        {"best_step": best_step, "best": best, "history": history}, indent=2, sort_keys=True
    )
