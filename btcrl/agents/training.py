"""``run_training``: one tracked, reproducible training run (DESIGN.md, "MLflow layout")."""

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

from btcrl.agents.algos import build_model, load_model, resolve_device
from btcrl.agents.callbacks import (
    DivergenceCallback,
    ProgressBarCallback,
    TrainingDivergedError,
    ValidationCallback,
)
from btcrl.agents.curriculum import curriculum_callback
from btcrl.agents.model_io import (
    log_policy_model,
    register_model,
    validation_report,
    write_policy_files,
)
from btcrl.agents.resume import RESUMED_FROM_TAG, fetch_checkpoint
from btcrl.agents.seeding import seed_everything
from btcrl.agents.split import TimeSplit, split_feature_set
from btcrl.agents.validation import VALIDATION_METRICS
from btcrl.config import ExperimentConfig, dump_config, flatten_config
from btcrl.data.timeframes import periods_per_year
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet, FeatureSpec
from btcrl.tracking import DATA_HASH_TAG, configure_tracking, log_params, start_run

log = logging.getLogger(__name__)

PRUNED_TAG = "btcrl.pruned"
FAILURE_TAG = "btcrl.failure_reason"


@dataclass(frozen=True)
class TrainResult:
    """A finished train run: its id, the model URI to load (``models:/NAME/V`` when registered,
    else ``runs:/ID/model``), the registered version (None if not registered) and the
    validation metrics of the chosen checkpoint (``val/sharpe``, ...)."""

    run_id: str
    model_uri: str
    model_version: int | None
    metrics: dict[str, float] = field(default_factory=dict)


def model_name(config: ExperimentConfig) -> str:
    """Registry name: ``train.model_name`` or ``btcrl-<algo>``."""
    return config.train.model_name or f"btcrl-{config.agent.algo}"


def run_name(config: ExperimentConfig, spec: FeatureSpec, now: datetime | None = None) -> str:
    """``ppo-BTCUSDT-1h-s42-20261121T1530`` (UTC minute of the start)."""
    symbol = "".join(ch for ch in spec.symbol if ch.isalnum())
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M")
    return f"{config.agent.algo}-{symbol}-{spec.timeframe}-s{config.seed}-{stamp}"


def run_tags(config: ExperimentConfig, features: FeatureSet, split: TimeSplit) -> dict[str, str]:
    """The source-run tags later backtests rely on (docs/internals.md); market and data hash
    as the FeatureSet's spec records them."""
    spec = features.spec
    return {
        DATA_HASH_TAG: spec.data_hash,
        "btcrl.algo": config.agent.algo,
        "btcrl.symbol": spec.symbol,
        "btcrl.exchange": spec.exchange,
        "btcrl.timeframe": spec.timeframe,
        **split.tags(),
    }


def _killed_on() -> tuple[type[BaseException], ...]:
    from optuna import TrialPruned

    return (TrialPruned,)


def run_training(
    config: ExperimentConfig,
    *,
    parent_run_id: str | None = None,
    on_validation: Callable[[int, dict[str, float]], None] | None = None,
    extra_tags: Mapping[str, str] | None = None,
    features: FeatureSet | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train ``config.agent.algo`` on the train span, validate on the rest, log everything.

    - ``parent_run_id``: nest the run under it (tune trials); otherwise, under ``mlflow run``,
      the run of MLFLOW_RUN_ID is adopted.
    - ``on_validation(timesteps, metrics)`` after each validation; ``optuna.TrialPruned`` from
      it ends the run KILLED with tag ``btcrl.pruned=true`` and propagates.
    - ``features``: a ready FeatureSet (tests, benchmarks); default: the store's, by config.
    - ``progress``: show a tqdm bar on stderr (the CLI turns it on in a terminal).
    - ``config.train.resume``: continue that run's last checkpoint for ``total_timesteps``
      more env-steps; the new run is tagged ``btcrl.resumed_from``.

    Raises TrainingDivergedError (a BtcrlError) when weights become NaN/inf; the run ends
    FAILED with tag ``btcrl.failure_reason``.
    """
    from btcrl.env import BatchTradingEnv

    if not config.tracking.enabled:
        raise ConfigError(
            "tracking.enabled=false: training always records an MLflow run (point tracking.uri "
            "at a scratch store instead)"
        )
    if config.train.best_metric not in VALIDATION_METRICS:
        raise ConfigError(
            f"train.best_metric={config.train.best_metric!r} is not a validation metric: use one "
            f"of {', '.join(VALIDATION_METRICS)}"
        )
    configure_tracking(config.tracking)
    if features is None:
        from btcrl.features import load_feature_set

        features = load_feature_set(config.data, config.features)
    split = split_feature_set(features, config.train.split_ratio, config.train.train_end)
    device = resolve_device(config.agent.device)
    seed_everything(config.seed, config.train.torch_threads)
    tags = {**run_tags(config, features, split), **(extra_tags or {})}
    if config.train.resume:
        tags[RESUMED_FROM_TAG] = config.train.resume

    with tempfile.TemporaryDirectory(prefix="btcrl-train-") as tmp:
        checkpoint = None
        if config.train.resume:  # fetched before the new run starts: a bad id fails early
            checkpoint, spec = fetch_checkpoint(config.train.resume, Path(tmp) / "resume")
            spec.check_compatible(features.spec)
        env = BatchTradingEnv(split.train, config.env, config.train.n_envs, config.seed, "train")
        try:
            with start_run(
                config.train.experiment,
                "train",
                run_name=run_name(config, features.spec),
                tags=tags,
                parent_run_id=parent_run_id,
                killed_on=_killed_on(),
                log_system_metrics=config.train.system_metrics,
            ) as run:
                run_id = run.info.run_id
                log_params(flatten_config(config))
                mlflow.log_text(dump_config(config), "config.yaml")
                mlflow.log_text(features.spec.to_json(), "feature_spec.json")
                metrics = _run(
                    config,
                    env,
                    device,
                    checkpoint,
                    split,
                    features,
                    Path(tmp),
                    run_id,
                    on_validation,
                    progress,
                )
                version = None
                uri = f"runs:/{run_id}/model"
                if config.train.register_model:
                    version = register_model(run_id, model_name(config), "candidate")
                    uri = f"models:/{model_name(config)}/{version}"
        finally:
            env.close()
    log.info("run %s finished: %s", run_id, uri)
    return TrainResult(run_id=run_id, model_uri=uri, model_version=version, metrics=metrics)


def _run(
    config: ExperimentConfig,
    env: VecEnv,
    device: str,
    checkpoint: Path | None,
    split: TimeSplit,
    features: FeatureSet,
    tmp: Path,
    run_id: str,
    on_validation: Callable[[int, dict[str, float]], None] | None,
    progress: bool,
) -> dict[str, float]:
    """Build (or load) the model, train, log the outputs; tag why when it does not finish."""
    try:
        if checkpoint is None:
            model = build_model(config.agent, env, config.seed, device)
        else:
            model = load_model(config.agent.algo, checkpoint, env=env, device=device)
            model.set_random_seed(config.seed)
        validation = _train(model, config, split, run_id, tmp, on_validation, progress)
        chosen = _chosen_model(model, validation, config, device)
        return _log_outputs(chosen, validation, config, features, split, tmp)
    except TrainingDivergedError as exc:
        mlflow.set_tag(FAILURE_TAG, str(exc))
        raise
    except BaseException as exc:
        if isinstance(exc, _killed_on()):
            mlflow.set_tag(PRUNED_TAG, "true")
        raise


def _train(
    model: BaseAlgorithm,
    config: ExperimentConfig,
    split: TimeSplit,
    run_id: str,
    tmp: Path,
    on_validation: Callable[[int, dict[str, float]], None] | None,
    progress: bool,
) -> ValidationCallback:
    from btcrl.tracking.sb3_logger import mlflow_sb3_logger

    model.set_logger(mlflow_sb3_logger(run_id))
    validation = ValidationCallback(
        split.validation,
        config.env,
        periods_per_year(config.data.timeframe),
        eval_every=config.train.eval_every,
        best_metric=config.train.best_metric,
        checkpoint_dir=tmp / "checkpoints",
        run_id=run_id,
        patience=config.train.early_stop_patience,
        on_validation=on_validation,
    )
    callbacks: list[BaseCallback] = [DivergenceCallback(), validation]
    curriculum = curriculum_callback(config.train.curriculum_phases())
    if curriculum is not None:
        callbacks.insert(0, curriculum)
    if progress:
        callbacks.append(ProgressBarCallback(config.train.total_timesteps, validation))
    try:
        model.learn(
            config.train.total_timesteps,
            callback=CallbackList(callbacks),
            log_interval=1 if config.agent.algo == "ppo" else 4,
            reset_num_timesteps=not config.train.resume,
        )
    except ValueError as exc:  # torch.distributions rejects NaN parameters
        if "nan" not in str(exc).lower():
            raise
        raise TrainingDivergedError(
            f"training diverged at {model.num_timesteps} steps: {str(exc).splitlines()[0]}"
        ) from None
    if validation.last_eval_step != model.num_timesteps or not validation.history:
        validation.validate()  # the final weights are always scored
    return validation


def _chosen_model(
    model: BaseAlgorithm, validation: ValidationCallback, config: ExperimentConfig, device: str
) -> BaseAlgorithm:
    """The best checkpoint by ``train.best_metric`` (``train.keep=best``) or the final model."""
    if config.train.keep == "last" or validation.best_step == model.num_timesteps:
        return model
    return load_model(config.agent.algo, validation.best_path, env=None, device=device)


def _log_outputs(
    model: BaseAlgorithm,
    validation: ValidationCallback,
    config: ExperimentConfig,
    features: FeatureSet,
    split: TimeSplit,
    tmp: Path,
) -> dict[str, float]:
    """Artifacts at the run's root, ``metrics.json``, the pyfunc model and best/* metrics."""
    files = write_policy_files(model, features.spec, config, tmp / "policy")
    mlflow.log_artifact(str(files["sb3_model"]))
    mlflow.log_artifact(str(files["actor"]))
    chosen = validation.best_metrics if config.train.keep == "best" else validation.last_metrics
    step = validation.best_step if config.train.keep == "best" else validation.last_eval_step
    mlflow.log_text(validation_report(validation.history, chosen, step), "metrics.json")
    mlflow.log_metrics(
        {f"best/{k.removeprefix('val/')}": v for k, v in chosen.items() if np.isfinite(v)}
    )
    example = _example_observation(split, config)
    log_policy_model(files, features.spec, example)
    return dict(chosen)


def _example_observation(split: TimeSplit, config: ExperimentConfig) -> np.ndarray:
    """The first validation observation, (1, obs_size) float32: the model's input example."""
    from btcrl.env import BatchTradingEnv

    env = BatchTradingEnv(split.validation, config.env, 1, 0, "eval")
    try:
        return np.asarray(env.reset(), dtype=np.float32)
    finally:
        env.close()
