"""Continue a train run: its config (merged with new overrides in memory), its last
checkpoint and its FeatureSpec."""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from btcrl.config import ExperimentConfig, build_config, with_overrides
from btcrl.errors import BtcrlError, ConfigError
from btcrl.features.spec import FeatureSpec
from btcrl.tracking.lookup import download_run_artifact, get_run, load_run_text

log = logging.getLogger(__name__)

#: where a checkpoint may be in a run, newest state first
CHECKPOINT_CANDIDATES = ("checkpoints/last.zip", "model.zip")


def resume_config(run_id: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """The config that run ``run_id`` trained with (its ``config.yaml`` artifact), with
    ``key.path=value`` ``overrides`` (values parsed as YAML, as ``--set``) applied in memory."""
    get_run(run_id)
    text = load_run_text(run_id, "config.yaml")
    if text is None:
        raise BtcrlError(f"run {run_id} has no config.yaml artifact: not a btcrl train run")
    config = build_config(yaml.safe_load(text) or {})
    return with_overrides(config, dict(_parse(item) for item in overrides))


def _parse(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like key.path=value")
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return key.strip(), raw


def fetch_checkpoint(run_id: str, dst: Path) -> tuple[Path, FeatureSpec]:
    """Download run ``run_id``'s newest SB3 checkpoint and its FeatureSpec into ``dst``."""
    get_run(run_id)
    dst.mkdir(parents=True, exist_ok=True)
    for candidate in CHECKPOINT_CANDIDATES:
        try:
            path = download_run_artifact(run_id, candidate, dst)
        except BtcrlError:
            continue
        spec_path = download_run_artifact(run_id, "feature_spec.json", dst)
        log.info("resuming from %s of run %s", candidate, run_id)
        return path, FeatureSpec.from_json(spec_path.read_text())
    looked = ", ".join(CHECKPOINT_CANDIDATES)
    raise BtcrlError(f"run {run_id} has no checkpoint to resume from (looked for {looked})")
