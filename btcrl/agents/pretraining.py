"""``btcrl pretrain``: pre-train the market encoder on the train span and register it.

The train span is the one ``btcrl train`` would train on with the same config
(``train.split_ratio`` / ``train.train_end``): windows end on train rows only, so the
validation span (and anything later) stays unseen by the encoder.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from btcrl.agents.algos import resolve_device
from btcrl.agents.split import split_feature_set
from btcrl.config import ExperimentConfig, dump_config, flatten_config
from btcrl.encoder.pretrain import pretrain_encoder
from btcrl.features.spec import FeatureSet
from btcrl.tracking import configure_tracking, log_metrics, log_params, log_text, start_run
from btcrl.tracking.encoder import log_encoder
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
) -> PretrainRunResult:
    """Pre-train on the train span of ``features`` (default: loaded from ``config.data``),
    log losses and the encoder to an MLflow run in ``pretrain.experiment``, register it as
    ``pretrain.model_name`` (alias ``candidate``) when ``register``."""
    configure_tracking(config.tracking)
    if features is None:
        from btcrl.features import load_feature_set

        features = load_feature_set(config.data, config.features)
    split = split_feature_set(features, config.train.split_ratio, config.train.train_end)
    pretrain = config.pretrain
    device = resolve_device(pretrain.device)
    spec = features.spec
    tags = {**split.tags(), SYMBOL: spec.symbol, TIMEFRAME: spec.timeframe,
            DATA_HASH: spec.data_hash}
    name = f"encoder-w{pretrain.window}-d{pretrain.d_model}-s{config.seed}-{spec.timeframe}"
    with start_run(pretrain.experiment, "pretrain", run_name=name, tags=tags,
                   parent_run_id=parent_run_id) as run:
        log_params({k: v for k, v in flatten_config(config).items()
                    if k.split(".")[0] in ("data", "features", "pretrain", "seed")})
        log_text(dump_config(config), "config.yaml")
        log_text(features.spec.to_json(), "feature_spec.json")

        def report(step: int, metrics: dict[str, float]) -> None:
            log_metrics(metrics, step=step)
            if on_eval is not None:
                on_eval(step, metrics)

        result = pretrain_encoder(split.train, pretrain, seed=config.seed, device=device,
                                  on_eval=report)
        log_metrics({"samples_per_second": result.samples_per_second})
        metadata = {"feature_spec": features.spec.to_dict(), "shape": result.shape.to_dict(),
                    "train_end": split.tags()["btcrl.train_end"]}
        uri, version = log_encoder(result.model.cpu(), metadata, pip_requirements(),
                                   pretrain.model_name if register else None)
    return PretrainRunResult(run.info.run_id, uri, version, result.final,
                             result.samples_per_second)
