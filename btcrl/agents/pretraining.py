"""``btcrl pretrain``: pre-train the market encoder on the train span and register it; and
``encoder_policy``: what ``agent.encoder`` changes in a training run.

The train span is the one ``btcrl train`` would train on with the same config
(``train.split_ratio`` / ``train.train_end``): windows end on train rows only, so the
validation span (and anything later) stays unseen by the encoder.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from btcrl.agents.algos import resolve_device
from btcrl.agents.split import last_train_time, split_feature_set
from btcrl.config import ExperimentConfig, dump_config, flatten_config
from btcrl.config.pretrain import PretrainConfig
from btcrl.encoder.extractor import encoder_policy_kwargs
from btcrl.encoder.model import MaskedEncoder
from btcrl.encoder.plot import reconstruction_html
from btcrl.encoder.pretrain import pretrain_encoder
from btcrl.encoder.windows import gather_windows, window_ends
from btcrl.errors import CompatibilityError, ConfigError
from btcrl.features.spec import FeatureSet, FeatureSpec
from btcrl.tracking import configure_tracking, log_metrics, log_params, log_text, start_run
from btcrl.tracking import tags as tag_names
from btcrl.tracking.encoder import load_encoder, log_encoder
from btcrl.tracking.models import pip_requirements
from btcrl.tracking.tags import DATA_HASH, SYMBOL, TIMEFRAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainRunResult:
    """The MLflow run, the encoder's model URI and version, its final losses."""

    run_id: str
    model_uri: str
    model_version: int | None
    metrics: dict[str, float]
    samples_per_second: float


def run_pretraining(
    config: ExperimentConfig,
    *,
    features: FeatureSet | None = None,
    parent_run_id: str | None = None,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    register: bool = True,
    extra_tags: dict[str, str] | None = None,
) -> PretrainRunResult:
    """Pre-train on the train span of ``features`` (default: loaded from ``config.data``),
    log losses and the encoder to an MLflow run in ``pretrain.experiment``, register it as
    ``pretrain.model_name`` (alias ``candidate``) when ``register``."""
    configure_tracking(config.tracking)
    features = features if features is not None else _pretrain_features(config)
    split = split_feature_set(features, config.train.split_ratio, config.train.train_end)
    pretrain = config.pretrain
    device = resolve_device(pretrain.device)
    spec = features.spec
    tags = {
        **split.tags(),
        SYMBOL: spec.symbol,
        TIMEFRAME: spec.timeframe,
        DATA_HASH: spec.data_hash,
        **(extra_tags or {}),
    }
    name = f"encoder-w{pretrain.window}-d{pretrain.d_model}-s{config.seed}-{spec.timeframe}"
    with start_run(
        pretrain.experiment, "pretrain", run_name=name, tags=tags, parent_run_id=parent_run_id
    ) as run:
        _log_inputs(config, features)

        def report(step: int, metrics: dict[str, float]) -> None:
            log_metrics(metrics, step=step)
            if on_eval is not None:
                on_eval(step, metrics)

        result = pretrain_encoder(
            split.train, pretrain, seed=config.seed, device=device, on_eval=report
        )
        log_metrics({"samples_per_second": result.samples_per_second})
        _log_reconstruction(result.model, split.train, pretrain, config.seed)
        metadata = {
            "feature_spec": features.spec.to_dict(),
            "shape": result.shape.to_dict(),
            "train_end": split.tags()[tag_names.TRAIN_END],
        }
        uri, version = log_encoder(
            result.model.cpu(),
            metadata,
            pip_requirements(),
            pretrain.model_name if register else None,
        )
    return PretrainRunResult(run.info.run_id, uri, version, result.final, result.samples_per_second)


def _pretrain_features(config: ExperimentConfig) -> FeatureSet:
    """The config's FeatureSet from the store; fitted features fit on the train split, as
    ``btcrl train``'s do."""
    from btcrl.features import load_feature_set

    train = config.train
    return load_feature_set(
        config.data,
        config.features,
        fit_end=lambda fs: last_train_time(fs, train.split_ratio, train.train_end),
    )


def _log_inputs(config: ExperimentConfig, features: FeatureSet) -> None:
    """The params that shape an encoder (data, features, pretrain, seed), the whole config
    and the FeatureSpec, to the active run."""
    sections = ("data", "features", "pretrain", "seed")
    log_params({k: v for k, v in flatten_config(config).items() if k.split(".")[0] in sections})
    log_text(dump_config(config), "config.yaml")
    log_text(features.spec.to_json(), "feature_spec.json")


def _log_reconstruction(
    model: MaskedEncoder, span: FeatureSet, pretrain: PretrainConfig, seed: int
) -> None:
    """``reconstruction.html``: the encoder's reconstruction of the span's latest window."""
    ends = window_ends(span, pretrain.window)[-1:]
    last = gather_windows(span.features, ends, pretrain.window)[0]
    html = reconstruction_html(model, last, span.spec.feature_names, pretrain.mask_ratio, seed)
    log_text(html, "reconstruction.html")


@dataclass(frozen=True)
class EncoderPolicy:
    """What training needs from ``agent.encoder``: the config with ``env.window`` set to the
    encoder's window, the SB3 ``policy_kwargs`` that put the encoder in front of the policy,
    and the tags linking the train run to the encoder; with ``agent.backend: sbx``, no
    kwargs but ``columns_encoder``, whose embeddings the learner observes as columns."""

    config: ExperimentConfig
    policy_kwargs: dict[str, Any]
    tags: dict[str, str]
    columns_encoder: MaskedEncoder | None = None  # SBX: read as precomputed columns


def encoder_policy(config: ExperimentConfig, data_spec: FeatureSpec) -> EncoderPolicy:
    """Load ``config.agent.encoder`` (none: the config unchanged, no kwargs), check its
    FeatureSpec against the data's (one-line CompatibilityError at the first difference) and
    set ``env.window`` to its window (ConfigError when env.window was set to another)."""
    uri = config.agent.encoder
    if not uri:
        return EncoderPolicy(config, {}, {})
    module, metadata = load_encoder(uri)
    if not isinstance(module, MaskedEncoder):
        raise CompatibilityError(f"{uri} holds a {type(module).__name__}, not a MaskedEncoder")
    try:
        FeatureSpec.from_dict(metadata["feature_spec"]).check_compatible(data_spec)
    except CompatibilityError as exc:
        raise CompatibilityError(f"encoder {uri} does not fit the data: {exc}") from None
    window = int(metadata["shape"]["window"])
    if config.env.window not in (1, window):
        raise ConfigError(
            f"env.window={config.env.window} but encoder {uri} reads windows of {window} bars "
            "(leave env.window at 1: it follows the encoder)"
        )
    env = config.env.model_copy(update={"window": window})
    log.info(
        "policy reads through encoder %s (window %d, %s)",
        uri,
        window,
        "fine-tuned" if config.agent.encoder_trainable else "frozen",
    )
    tags = {tag_names.ENCODER_URI: uri, tag_names.ENCODER_RUN_ID: str(metadata.get("run_id", ""))}
    config = config.model_copy(update={"env": env})
    if config.agent.backend == "sbx":  # frozen (config): embeddings as observation columns
        return EncoderPolicy(config, {}, tags, columns_encoder=module)
    return EncoderPolicy(
        config, encoder_policy_kwargs(module, config.agent.encoder_trainable), tags
    )
