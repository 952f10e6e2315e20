"""``run_training``: one tracked, reproducible training run (docs/training.md)."""

import logging
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv
from tqdm import TqdmExperimentalWarning

from btcrl.agents.algos import build_model, resolve_device, seed_training
from btcrl.agents.callbacks import (
    DivergenceCallback,
    ProgressLineCallback,
    TrainingDivergedError,
    ValidationCallback,
)
from btcrl.agents.curriculum import curriculum_callback
from btcrl.agents.model_io import validation_report, write_policy_files
from btcrl.agents.pretraining import EncoderPolicy, encoder_policy
from btcrl.agents.resume import fetch_checkpoint
from btcrl.agents.run_info import model_name, run_name, run_params, train_run_tags
from btcrl.agents.split import TimeSplit, last_train_time, split_feature_set
from btcrl.agents.validation import VALIDATION_METRICS, evaluate_policy
from btcrl.config import ExperimentConfig, dump_config
from btcrl.config.train import trained_timesteps, validation_interval
from btcrl.data.timeframes import periods_per_year
from btcrl.encoder.columns import learner_inputs
from btcrl.env.params import observation_names
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet, FeatureSpec
from btcrl.policy.act import deterministic_act
from btcrl.policy.algos import load_model
from btcrl.tracking import (
    configure_tracking,
    log_artifact,
    log_candles,
    log_metrics,
    log_params,
    log_text,
    start_run,
    tags,
)
from btcrl.tracking.models import log_policy_model, register_model

log = logging.getLogger(__name__)

ValidationHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    """A finished train run: its id, the model URI to load (``models:/NAME/V`` when registered,
    else ``runs:/ID/model``), the registered version (None if not registered) and the
    validation metrics of the chosen checkpoint (``val/sharpe``, ...) with its in-sample
    ``train_span/*`` metrics (the same, traded over the train span). ``model`` is that
    checkpoint's SB3 model, in memory, for a caller that trades it next in this process
    (the walk-forward's stitch) instead of loading ``model_uri`` again."""

    run_id: str
    model_uri: str
    model_version: int | None
    metrics: dict[str, float] = field(default_factory=dict)
    model: BaseAlgorithm | None = field(default=None, repr=False, compare=False)
    spec: FeatureSpec | None = field(default=None, repr=False, compare=False)
    config: ExperimentConfig | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Job:
    """What one training needs once the run is open."""

    config: ExperimentConfig
    features: FeatureSet
    split: TimeSplit
    device: str
    checkpoint: Path | None
    tmp: Path
    on_validation: ValidationHook | None
    encoder: EncoderPolicy  # what agent.encoder adds (SB3: an extractor; SBX: columns)


def run_training(
    config: ExperimentConfig,
    *,
    parent_run_id: str | None = None,
    on_validation: ValidationHook | None = None,
    extra_tags: Mapping[str, str] | None = None,
    features: FeatureSet | None = None,
    progress: bool = False,
    stop_exceptions: tuple[type[BaseException], ...] = (),
    name_prefix: str = "",
    progress_lines: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``config.agent.algo`` on the train span, validate on the rest, log everything.

    - ``parent_run_id``: nest the run under it (tune trials); otherwise, under ``mlflow run``,
      the run of MLFLOW_RUN_ID is adopted.
    - ``on_validation(timesteps, metrics)`` after each validation. An exception of a type in
      ``stop_exceptions`` (the tuner passes its prune signal) ends the run KILLED, with the
      reason in tag ``btcrl.end_reason``, and propagates.
    - ``features``: a ready FeatureSet (tests, benchmarks); default: the store's, by config.
    - ``progress``: SB3's progress bar on stderr (the CLI turns it on in a terminal);
      ``progress_lines``: called with one progress line every 30 s (logs and pipes).
    - ``name_prefix``: put first in the run name (e.g. ``t3`` for trial 3).
    - ``config.train.resume``: continue that run's last checkpoint for ``total_timesteps``
      more env-steps; the new run is tagged ``btcrl.resumed_from``.
    TrainingDivergedError (a BtcrlError) when weights become NaN/inf: the run ends FAILED.
    """
    _check(config)
    configure_tracking(config.tracking)
    if features is None:
        features = load_train_features(config)
    encoder = encoder_policy(config, features.spec)  # env.window follows agent.encoder's
    config = encoder.config
    split = train_split(config, features)
    device = resolve_device(config.agent.device)
    seed_training(config.seed, device)
    resumed = {tags.RESUMED_FROM: config.train.resume} if config.train.resume else {}
    all_tags = {**train_run_tags(config, features, split), **encoder.tags, **resumed}
    all_tags.update(extra_tags or {})
    with tempfile.TemporaryDirectory(prefix="btcrl-train-") as tmp:
        checkpoint = _fetch_resume(config, features, Path(tmp))
        job = _Job(config, features, split, device, checkpoint, Path(tmp), on_validation, encoder)
        with start_run(
            config.train.experiment,
            "train",
            run_name=run_name(config, features.spec, prefix=name_prefix),
            tags=all_tags,
            parent_run_id=parent_run_id,
            killed_on=stop_exceptions,
            log_system_metrics=config.train.system_metrics,
        ) as run:
            run_id = str(run.info.run_id)
            _log_inputs(config, features, split)
            metrics, model = _train_and_log(job, run_id, progress, progress_lines)
            uri, version = _register(config, run_id, metrics)
    log.info("run %s finished: %s", run_id, uri)
    # config as trained and logged (env.window follows an encoder's)
    return TrainResult(run_id, uri, version, metrics, model, features.spec, config)


def train_split(config: ExperimentConfig, features: FeatureSet) -> TimeSplit:
    """The train / validation split; the validation set keeps the ``env.window`` bars before
    its start (its first decision is the last train bar, its first fill the first validation
    open) and ``env.vol_window`` bars of history for the realised vol."""
    return split_feature_set(
        features,
        config.train.split_ratio,
        config.train.train_end,
        lead_bars=config.env.window,
        history_bars=config.env.vol_window,
    )


def load_train_features(config: ExperimentConfig) -> FeatureSet:
    """The config's FeatureSet from the store; fitted features fit on the train split only."""
    from btcrl.features import load_feature_set

    train = config.train
    return load_feature_set(
        config.data,
        config.features,
        fit_end=lambda fs: last_train_time(fs, train.split_ratio, train.train_end),
        history_bars=config.env.vol_window,  # closes before the start for the realised vol
    )


def _check(config: ExperimentConfig) -> None:
    if not config.tracking.enabled:
        raise ConfigError(
            "tracking.enabled=false: training always records an MLflow run (point tracking.uri "
            "at a scratch store instead)"
        )
    if config.train.register_model and not config.train.log_model:
        raise ConfigError(
            "train.register_model=true needs train.log_model=true (only a logged model can be "
            "registered)"
        )
    if config.train.best_metric not in VALIDATION_METRICS:
        raise ConfigError(
            f"train.best_metric={config.train.best_metric!r} is not a validation metric: use one "
            f"of {', '.join(VALIDATION_METRICS)}"
        )


def _fetch_resume(config: ExperimentConfig, features: FeatureSet, tmp: Path) -> Path | None:
    """The checkpoint to continue (fetched before the new run starts: a bad id fails early)."""
    if not config.train.resume:
        return None
    checkpoint, spec = fetch_checkpoint(config.train.resume, tmp / "resume")
    spec.check_compatible(features.spec)
    return checkpoint


def _log_inputs(config: ExperimentConfig, features: FeatureSet, split: TimeSplit) -> None:
    """The params that apply, the whole config, the FeatureSpec and the candles used."""
    log_params(run_params(config))
    log_text(dump_config(config), "config.yaml")
    log_text(features.spec.to_json(), "feature_spec.json")
    log_candles(split.train, config.data.source, "training")
    log_candles(split.validation_span, config.data.source, "validation")


def _register(
    config: ExperimentConfig, run_id: str, metrics: dict[str, float]
) -> tuple[str, int | None]:
    """Register the run's model; it takes ``@candidate`` only when it traded on validation
    (``val/fills`` > 0): a flat policy is registered, never proposed."""
    if not config.train.register_model:
        return f"runs:/{run_id}/model", None
    traded = metrics.get("val/fills", 1.0) > 0
    if not traded:
        log.warning("run %s never traded on validation: registered without @candidate", run_id)
    version = register_model(run_id, model_name(config), "candidate" if traded else None)
    return f"models:/{model_name(config)}/{version}", version


def _train_and_log(
    job: _Job, run_id: str, progress: bool, progress_lines: Callable[[str], None] | None
) -> tuple[dict[str, float], BaseAlgorithm]:
    """Build (or load) the model, train, log the outputs (the env lives only this long);
    returns the chosen checkpoint's validation and train-span metrics and model."""
    from btcrl.env import BatchTradingEnv

    config = job.config
    # the learner's view: with an SBX encoder, its embeddings as columns (window 1)
    train, env_config = learner_inputs(job.split.train, config.env, job.encoder.columns_encoder)
    env = BatchTradingEnv(train, env_config, config.train.n_envs, config.seed, "train")
    try:
        model = _model(job, env)
        validation = _train(model, job, run_id, progress, progress_lines)
        chosen = _chosen_model(model, validation, config, job.device)
        return _log_outputs(chosen, validation, job), chosen
    finally:
        env.close()


def _model(job: _Job, env: VecEnv) -> BaseAlgorithm:
    config = job.config
    if job.checkpoint is None:
        kwargs, columns = job.encoder.policy_kwargs, job.encoder.columns_encoder
        return build_model(config.agent, env, config.seed, job.device, kwargs, columns)
    model = load_model(config.agent.algo, job.checkpoint, env=env, device=job.device)
    model.set_random_seed(config.seed)
    return model


def _train(
    model: BaseAlgorithm,
    job: _Job,
    run_id: str,
    bar: bool,
    lines: Callable[[str], None] | None,
) -> ValidationCallback:
    """Learn with validation, divergence checks and progress (SB3's bar, or ``lines``)."""
    from btcrl.tracking.sb3_logger import make_sb3_logger

    config = job.config
    model.set_logger(make_sb3_logger(run_id))
    rollout, total = _budget(model, config)
    validation = ValidationCallback(
        job.split.validation,
        config.env,
        periods_per_year(config.data.timeframe),
        eval_every=validation_interval(config.train, rollout),
        best_metric=config.train.best_metric,
        checkpoint_dir=job.tmp / "checkpoints",
        run_id=run_id,
        patience=config.train.early_stop_patience,
        on_validation=job.on_validation,
    )
    callbacks: list[BaseCallback] = [DivergenceCallback(), validation]
    curriculum = curriculum_callback(config.train.curriculum_phases())
    if curriculum is not None:
        callbacks.insert(0, curriculum)
    if lines is not None:
        callbacks.append(ProgressLineCallback(total, lines, validation))
    try:
        with warnings.catch_warnings():  # SB3's bar is tqdm.rich, which calls itself alpha
            warnings.simplefilter("ignore", TqdmExperimentalWarning)
            model.learn(
                total,
                callback=CallbackList(callbacks),
                log_interval=1 if config.agent.algo == "ppo" else 4,
                reset_num_timesteps=not config.train.resume,
                progress_bar=bar,
            )
    except ValueError as exc:  # torch.distributions rejects NaN parameters
        if "nan" not in str(exc).lower():
            raise
        raise TrainingDivergedError(
            f"training diverged at {model.num_timesteps} steps: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        model.logger.close()  # sends the curves the MLflow writer keeps (tracking.sb3_logger)
    if validation.last_eval_step != model.num_timesteps or not validation.history:
        validation.validate()  # the final weights are always scored
    return validation


def _budget(model: BaseAlgorithm, config: ExperimentConfig) -> tuple[int, int]:
    """(rollout, env-steps to train): SB3 trains whole rollouts (PPO: ``n_envs x n_steps``;
    off-policy: ``n_envs x train_freq``), so ``train.total_timesteps`` is rounded up to them,
    said once in a warning when that changes it."""
    per_env = config.agent.n_steps if config.agent.algo == "ppo" else config.agent.train_freq
    rollout = int(model.n_envs) * per_env
    total = trained_timesteps(config.train, rollout)
    if total != config.train.total_timesteps:
        log.warning(
            "training %s env-steps, not train.total_timesteps=%s: %s trains whole rollouts of "
            "%s env-steps (%d envs x %d steps)",
            f"{total:,}",
            f"{config.train.total_timesteps:,}",
            config.agent.algo.upper(),
            f"{rollout:,}",
            model.n_envs,
            per_env,
        )
    return rollout, total


def _chosen_model(
    model: BaseAlgorithm, validation: ValidationCallback, config: ExperimentConfig, device: str
) -> BaseAlgorithm:
    """The best checkpoint by ``train.best_metric`` (``train.keep=best``) or the final model."""
    if config.train.keep == "last" or validation.best_step == model.num_timesteps:
        return model
    return load_model(config.agent.algo, validation.best_path, env=None, device=device)


def _log_outputs(
    model: BaseAlgorithm, validation: ValidationCallback, job: _Job
) -> dict[str, float]:
    """Artifacts at the run's root, ``metrics.json``, the pyfunc model, best/* metrics and the
    chosen model's train-span metrics."""
    config, spec = job.config, job.features.spec
    files = write_policy_files(model, spec, config, job.tmp / "policy")
    log_artifact(files["sb3_model"])
    log_artifact(files["actor"])
    best = config.train.keep == "best"
    chosen = validation.best_metrics if best else validation.last_metrics
    step = validation.best_step if best else validation.last_eval_step
    log_text(validation_report(validation.history, chosen, step), "metrics.json")
    log_metrics({f"best/{k.removeprefix('val/')}": v for k, v in chosen.items()})
    in_sample = train_span_metrics(model, job)
    log_metrics(in_sample)
    if config.train.log_model:
        example = example_observation(job.split, config)
        names = list(observation_names(spec, config.env.window))
        log_policy_model(files, names, spec.action_size, spec.to_json(), example)
    return {**chosen, **in_sample}


def train_span_metrics(model: BaseAlgorithm, job: _Job) -> dict[str, float]:
    """The chosen model traded once over its own train span at full cost (``train_span/*``,
    the validation metrics): an in-sample check that tells "no edge even where it learned"
    (``return_before_costs`` near 0) from "an edge eaten by costs" (positive before costs,
    negative after)."""
    config = job.config
    return evaluate_policy(
        job.split.train,
        config.env,
        deterministic_act(model),
        periods_per_year(config.data.timeframe),
        prefix="train_span/",
    )


def example_observation(split: TimeSplit, config: ExperimentConfig) -> np.ndarray:
    """The first validation observation, (1, obs_size) float32: the model's input example."""
    from btcrl.env import BatchTradingEnv

    env = BatchTradingEnv(split.validation, config.env, 1, 0, "eval")
    try:
        return np.asarray(env.reset(), dtype=np.float32)
    finally:
        env.close()
