"""``run_ensemble_training``: a seed ensemble trained, validated and registered as one model
(``btcrl train --seeds 0,1,2``; docs/training.md, "Seed ensembles").

One parent train run holds the ensemble; each seed of ``train.seeds`` trains one member as a
run nested under it (``run_training`` with that seed, on the same features and split, not
registered). The ensemble (``btcrl.policy.ensemble``: the mean of the members' deterministic
actions) is then validated on the validation span like a single model (agent, prior and
buy-and-hold figures, ``val/*`` and ``best/*`` on the parent), logged as one pyfunc model
whose artifacts hold every member, and registered under ``train.model_name``: it takes
``@candidate`` only when it traded on validation.
"""

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from btcrl.agents.model_io import write_policy_files
from btcrl.agents.pretraining import encoder_policy
from btcrl.agents.run_info import model_name, run_name, run_params, train_run_tags
from btcrl.agents.training import (
    TrainResult,
    example_observation,
    load_train_features,
    run_training,
    train_split,
)
from btcrl.agents.validation import evaluate_policy
from btcrl.config import ExperimentConfig, dump_config, with_overrides
from btcrl.data.timeframes import periods_per_year
from btcrl.env.params import observation_names
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy.ensemble import MEMBER_CONFIG, MEMBER_MODEL, LoadedEnsemble, ensemble_of
from btcrl.policy.episode import model_policy
from btcrl.policy.loader import LoadedPolicy
from btcrl.tracking import configure_tracking, log_metrics, log_params, log_text, start_run
from btcrl.tracking.models import link_model_metrics, log_policy_model, register_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleResult:
    """A trained seed ensemble: its parent run, model URI (``models:/NAME/V`` when registered,
    else ``runs:/ID/model``), version, the ensemble's validation metrics (``val/*``, with
    the prior's and buy-and-hold's) and the members' train results, in seed order."""

    run_id: str
    model_uri: str
    model_version: int | None
    metrics: dict[str, float]
    members: tuple[TrainResult, ...]


def run_ensemble_training(
    config: ExperimentConfig,
    *,
    progress: bool = False,
    progress_lines: Callable[[str], None] | None = None,
) -> EnsembleResult:
    """Train one member per seed of ``config.train.seeds``, validate their ensemble, log it
    and register it (module docstring). ConfigError without seeds or with ``train.resume``."""
    seeds = config.train.seeds
    if not seeds:
        raise ConfigError("train.seeds is not set: an ensemble needs the seeds of its members")
    if config.train.resume:
        raise ConfigError(f"train.resume={config.train.resume!r} cannot continue an ensemble")
    configure_tracking(config.tracking)
    features = load_train_features(config)
    split = train_split(config, features)
    members_config = with_overrides(config, {"train.register_model": False, "train.seeds": None})
    encoder = encoder_policy(config, features.spec).tags if config.agent.encoder else {}
    with (
        tempfile.TemporaryDirectory(prefix="btcrl-ensemble-") as tmp,
        start_run(
            config.train.experiment,
            "train",
            run_name=run_name(config, features.spec, prefix=f"ens{len(seeds)}"),
            tags={**train_run_tags(config, features, split), **encoder},  # + its encoder's
            log_system_metrics=False,
        ) as run,
    ):
        run_id = str(run.info.run_id)
        log_params(run_params(config))
        log_text(dump_config(config), "config.yaml")
        log_text(features.spec.to_json(), "feature_spec.json")
        members = tuple(
            run_training(
                with_overrides(members_config, {"seed": seed}),
                parent_run_id=run_id,
                features=features,
                progress=progress,
                progress_lines=progress_lines,
                name_prefix=f"m{k}",
            )
            for k, seed in enumerate(seeds)
        )
        ensemble = member_ensemble(members, f"runs:/{run_id}/model")
        metrics = validate_ensemble(ensemble, features)
        best = {f"best/{k.removeprefix('val/')}": v for k, v in metrics.items()}
        if config.train.log_model:  # val/* and best/* linked to the logged model, as a train's
            trained = ensemble.config  # as the members trained (env.window follows an encoder)
            example = example_observation(train_split(trained, features), trained)
            model_id = log_ensemble_model(ensemble, example, Path(tmp))
            link_model_metrics(model_id, {**metrics, **best})
        else:
            log_metrics({**metrics, **best})
    uri, version = _register(config, run_id, metrics)
    return EnsembleResult(run_id, uri, version, metrics, members)


def member_ensemble(members: tuple[TrainResult, ...], model_uri: str) -> LoadedEnsemble:
    """The ensemble of trained members (their models in memory)."""
    loaded = []
    for member in members:
        if member.model is None or member.spec is None or member.config is None:
            raise ConfigError(f"member run {member.run_id} kept no model in memory")
        loaded.append(LoadedPolicy(member.model, member.spec, member.config, member.model_uri))
    return ensemble_of(loaded, model_uri)


def validate_ensemble(ensemble: LoadedEnsemble, features: FeatureSet) -> dict[str, float]:
    """The ensemble's ``val/*`` metrics on the validation span of its members' split, the
    prior's and buy-and-hold's beside them (as ``btcrl.agents.validation`` scores a model)."""
    config = ensemble.config
    split = train_split(config, features)
    policy = model_policy(ensemble.model.policy, ensemble.predict, name="ensemble")
    ppy = periods_per_year(config.data.timeframe)
    return evaluate_policy(split.validation, config.env, policy, ppy, prefix="val/")


def log_ensemble_model(ensemble: LoadedEnsemble, example: np.ndarray, tmp: Path) -> str:
    """Log the ensemble as one pyfunc model into the active run: member 0's files as a plain
    model's, member k's zip and config as ``sb3_model_k`` / ``config_k``; ``example`` one
    observation (1, obs_size) float32, checked against the signature. Returns the logged
    model's id."""
    files: dict[str, Path] = {}
    for k, member in enumerate(ensemble.members):
        written = write_policy_files(member.model, member.spec, member.config, tmp / f"m{k}")
        if k == 0:
            files.update(written)
        else:
            files[MEMBER_MODEL.format(k)] = written["sb3_model"]
            files[MEMBER_CONFIG.format(k)] = written["config"]
    config, spec = ensemble.config, ensemble.spec
    names = list(observation_names(spec, config.env.window))
    label = f"{model_name(config)}-ensemble{len(ensemble.members)}"  # named, as a train's
    info = log_policy_model(files, names, spec.action_size, spec.to_json(), example, name=label)
    return str(info.model_id)


def _register(
    config: ExperimentConfig, run_id: str, metrics: dict[str, float]
) -> tuple[str, int | None]:
    """Register the ensemble's model; ``@candidate`` only when it traded on validation."""
    if not (config.train.register_model and config.train.log_model):
        return f"runs:/{run_id}/model", None
    traded = metrics.get("val/fills", 1.0) > 0
    if not traded:
        log.warning("ensemble %s never traded on validation: registered without @candidate", run_id)
    version = register_model(run_id, model_name(config), "candidate" if traded else None)
    return f"models:/{model_name(config)}/{version}", version
