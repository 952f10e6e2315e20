"""Log, register and load the pre-trained market encoder (the only MLflow code it needs)."""

import logging
from typing import Any

import mlflow
import mlflow.pytorch
from mlflow.tracking import MlflowClient
from torch import nn

from btcrl.errors import BtcrlError, CompatibilityError
from btcrl.tracking import tags as tag_names
from btcrl.tracking.tags import STAGE

log = logging.getLogger(__name__)

ENCODER_ARTIFACT = "encoder"


def log_encoder(
    model: nn.Module,
    metadata: dict[str, Any],
    pip_requirements: list[str],
    name: str | None,
    alias: str = "candidate",
) -> tuple[str, int | None]:
    """Log ``model`` (a torch module) as the active run's ``encoder`` with ``metadata`` (the
    FeatureSpec and the encoder's shape); register it as ``name`` with ``alias`` when ``name``
    is given. Returns (model URI, version or None)."""
    # pickle on purpose: the module's class lives in btcrl, so loading needs btcrl installed
    # (docs/encoder.md); MLflow's warning about pickles would otherwise print on every run
    quiet = logging.getLogger("mlflow.pytorch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        info = mlflow.pytorch.log_model(
            model,
            name=ENCODER_ARTIFACT,
            metadata=metadata,
            pip_requirements=pip_requirements,
            serialization_format="pickle",  # the module class is importable from btcrl
        )
        mlflow.set_tag(tag_names.ENCODER_URI, info.model_uri)  # find_encoder reads it back
    finally:
        quiet.setLevel(level)
    if not name:
        return info.model_uri, None
    try:
        from btcrl.tracking.models import quiet_stderr

        with quiet_stderr():  # MLflow prints "Successfully registered ..." itself
            version = int(mlflow.register_model(info.model_uri, name).version)
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(f"cannot register the encoder as {name!r}: {exc.message}") from None
    MlflowClient().set_registered_model_alias(name, alias, str(version))
    log.info("registered encoder %s version %d (alias %s)", name, version, alias)
    return f"models:/{name}/{version}", version


def load_encoder(uri: str) -> tuple[nn.Module, dict[str, Any]]:
    """(the encoder module on CPU, its metadata plus ``run_id``, the run that logged it) from
    a model URI; CompatibilityError when the URI names no btcrl encoder."""
    try:
        info = mlflow.models.get_model_info(uri)
        model = mlflow.pytorch.load_model(uri, map_location="cpu")
    except mlflow.exceptions.MlflowException as exc:
        raise CompatibilityError(f"cannot load encoder {uri}: {exc.message}") from None
    metadata = info.metadata or {}
    if "feature_spec" not in metadata or "shape" not in metadata:
        raise CompatibilityError(f"{uri} is not a btcrl encoder (no feature_spec/shape metadata)")
    model.eval()
    return model, {**metadata, "run_id": info.run_id or ""}


def find_encoder(experiment: str, tags: dict[str, str]) -> str | None:
    """The model URI of the latest finished pretrain run in ``experiment`` carrying every tag
    of ``tags`` (a walk-forward segment's), or None."""
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        return None
    wanted = {**tags, STAGE: "pretrain"}
    query = " and ".join(
        [f"tags.`{k}` = '{v}'" for k, v in wanted.items()] + ["attributes.status = 'FINISHED'"]
    )
    runs = MlflowClient().search_runs(
        [found.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=20
    )
    for run in runs:
        uri = run.data.tags.get(tag_names.ENCODER_URI)
        if uri:
            return uri
    return None
