"""Logged policy models, the registry, and finding a model by URI.

The pyfunc model is MLflow "models from code" (:mod:`btcrl.tracking.pyfunc_model`); its
signature names every observation column (the FeatureSpec's ``observation_names``) and its
metadata holds the FeatureSpec, so that a served model can be checked against its data.
"""

import contextlib
import io
import json
import logging
import math
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import yaml
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.models import Model, ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema, TensorSpec

from btcrl.errors import BtcrlError
from btcrl.tracking import tags
from btcrl.tracking.store import guard_store

log = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MODEL_ARTIFACT = "model"  # the pyfunc model's default name (and path in runs:/<id>/model)
_BAD_NAME = re.compile(r"[/:.%\"'\s]+")  # what MLflow refuses in a logged model's name
#: artifacts every btcrl policy model holds
POLICY_ARTIFACTS = ("sb3_model", "feature_spec", "config")
#: a seed ensemble's member k >= 1 (btcrl.tracking.pyfunc_model): its zip and config
_MEMBER_ARTIFACT = re.compile(r"^(sb3_model|config)_[1-9][0-9]*$")
_REQUIREMENTS = (
    "mlflow",
    "numpy",
    "pandas",
    "pyyaml",
    "torch",
    "stable-baselines3",
    "sb3-contrib",
    "gymnasium",
)
#: added for a model trained on ``agent.backend: sbx``
_SBX_REQUIREMENTS = ("sbx-rl", "jax", "jaxlib", "flax", "optax", "tfp-nightly")
#: source-run tags copied onto a registry version
_VERSION_TAGS = (
    tags.ALGO,
    tags.SOURCE,
    tags.EXCHANGE,
    tags.SYMBOL,
    tags.TIMEFRAME,
    tags.DATA_HASH,
    tags.TRAIN_START,
    tags.TRAIN_END,
    tags.VAL_START,
    tags.VAL_END,
)
_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_RUN_URI = re.compile(r"^runs:/(?P<run_id>[0-9a-f]+)/(?P<path>.+)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")
_BATCH_LIMIT = 1000  # metrics per log_batch call (MLflow's limit)


def pip_requirements(backend: str = "sb3") -> list[str]:
    """Pinned requirements of the pyfunc model (local version labels like ``+cpu`` dropped);
    ``backend`` ``sbx`` adds SBX and JAX."""
    pins = []
    extra = _SBX_REQUIREMENTS if backend == "sbx" else ()
    for package in (*_REQUIREMENTS, *extra):
        try:
            pins.append(f"{package}=={version(package).split('+')[0]}")
        except PackageNotFoundError:  # pragma: no cover - all are install requirements
            pins.append(package)
    return pins


def policy_signature(input_names: list[str], action_size: int = 2) -> ModelSignature:
    """One float32 column per observation name in; float32 actions (-1, action_size) out."""
    return ModelSignature(
        inputs=Schema([ColSpec("float", name) for name in input_names]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, action_size))]),
    )


@guard_store
def log_policy_model(
    files: Mapping[str, Path],
    input_names: list[str],
    action_size: int,
    spec_json: str,
    input_example: np.ndarray,
    name: str = MODEL_ARTIFACT,
) -> ModelInfo:
    """Log the pyfunc model named ``name`` (``btcrl.agents.run_info.logged_model_name``;
    characters MLflow refuses become ``-``) into the active run: ``files`` must hold
    ``sb3_model``, ``feature_spec`` and ``config`` (a seed ensemble: also ``sb3_model_k``
    and ``config_k`` for its members k = 1, 2, ...); ``input_example`` (1, len(input_names)) is
    checked against the signature here but not stored.

    The steps of MLflow's ``log_model`` that a policy model needs, without four that cost
    about 1 s a model (most of a 50k-step walk-forward segment's logging): the input example
    (MLflow loads the model twice to check it), requirement inference (requirements are
    explicit), the check that the pins match the installed packages (they are read from
    them), and re-reading the whole history of every metric of the run to link the step-0
    values to the model. The model is a LoggedModel of the run (``source_run_id``), an output
    of the run and READY, as ``log_model`` leaves it."""
    if np.shape(input_example) != (1, len(input_names)):
        raise BtcrlError(
            f"input example of shape {np.shape(input_example)} does not fit "
            f"{len(input_names)} observation columns"
        )
    run = mlflow.active_run()
    if run is None:
        raise BtcrlError("a policy model is logged into an active run: none is active")
    run_id = run.info.run_id
    logged = mlflow.initialize_logged_model(
        name=_BAD_NAME.sub("-", name).strip("-") or MODEL_ARTIFACT,
        source_run_id=run_id,
        experiment_id=run.info.experiment_id,
    )
    meta = Model(
        artifact_path=logged.artifact_location,
        model_uuid=logged.model_id,
        run_id=run_id,
        model_id=logged.model_id,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="btcrl-model-") as tmp:
            local = Path(tmp) / MODEL_ARTIFACT
            _save_pyfunc(local, files, policy_signature(input_names, action_size), spec_json, meta)
            MlflowClient().log_model_artifacts(logged.model_id, str(local))
        MlflowClient().log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        mlflow.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    mlflow.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return meta.get_model_info(logged)


def link_model_metrics(
    model_id: str, metrics: Mapping[str, float], history: Iterable[str] = (), step: int = 0
) -> None:
    """Log ``metrics`` (finite values, step 0) to the active run linked to logged model
    ``model_id`` (MLflow 3's ``model_id``: the model's page and ``get_logged_model`` list
    them), and link the run's entries at ``step`` of the metrics named in ``history`` (e.g.
    the chosen checkpoint's ``val/*``) as MLflow's ``log_model`` does: the same entries again
    with the model's id, which the run's own history keeps once. Reads only those keys'
    histories (not every metric of the run)."""
    run = mlflow.active_run()
    if run is None:
        raise BtcrlError("metrics are linked to a model from an active run: none is active")
    run_id = run.info.run_id
    client = MlflowClient()
    batch = [
        Metric(m.key, m.value, m.timestamp, m.step, model_id=model_id, run_id=run_id)
        for key in history
        for m in client.get_metric_history(run_id, key)
        if m.step == step
    ]
    stamp = int(time.time() * 1000)
    batch += [
        Metric(k, float(v), stamp, 0, model_id=model_id, run_id=run_id)
        for k, v in metrics.items()
        if math.isfinite(float(v))
    ]
    for i in range(0, len(batch), _BATCH_LIMIT):
        client.log_batch(run_id, metrics=batch[i : i + _BATCH_LIMIT])


def _save_pyfunc(
    path: Path, files: Mapping[str, Path], signature: ModelSignature, spec_json: str, meta: Model
) -> None:
    """The pyfunc model directory at ``path`` (``meta`` names the LoggedModel it becomes)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 20x faster
    agent = (yaml.load(Path(files["config"]).read_text(), Loader=loader) or {}).get("agent") or {}
    members = [k for k in files if _MEMBER_ARTIFACT.match(k)]  # a seed ensemble's members
    with _no_pin_check(), warnings.catch_warnings():  # the signature names every column
        warnings.filterwarnings("ignore", ".*An input example was not provided")
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(PYFUNC_CODE),
            artifacts={k: str(files[k]) for k in (*POLICY_ARTIFACTS, *members)},
            pip_requirements=pip_requirements(str(agent.get("backend", "sb3"))),
            signature=signature,
            metadata={"feature_spec": json.loads(spec_json)},
            mlflow_model=meta,
        )


@contextlib.contextmanager
def _no_pin_check() -> Iterator[None]:
    """Skip MLflow's check that the model's pins match the installed packages while a policy
    model is saved: the pins are read from those packages (:func:`pip_requirements`), and
    the check rebuilds a map of every installed module per requirement (0.1-1.4 s a model)."""
    from mlflow.utils import environment

    check = environment.warn_dependency_requirement_mismatches
    environment.warn_dependency_requirement_mismatches = lambda model_requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


def register_model(run_id: str, name: str, alias: str | None = "candidate") -> int:
    """Register run ``run_id``'s ``model`` as a new version of ``name``; point ``alias`` at it.

    The version gets the source run's algo, market, data and span tags, its validation
    Sharpe (``best/sharpe``) and the run id, as tags and as a one-paragraph description.
    Returns the new version number. Raises BtcrlError if the run has no logged model.
    """
    version_tags = _version_tags(run_id)
    try:
        with quiet_stderr():  # MLflow prints "Successfully registered ..." itself
            result = mlflow.register_model(logged_model_uri(run_id), name, tags=version_tags)
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(
            f"cannot register run {run_id}'s model as {name!r}: {exc.message}"
        ) from None
    model_version = int(result.version)
    client = MlflowClient()
    description = _describe(version_tags) + _validation_line(client.get_run(run_id).data.metrics)
    client.update_model_version(name, str(model_version), description=description)
    if alias:
        client.set_registered_model_alias(name, alias, str(model_version))
    log.info("registered %s version %d (alias %s)", name, model_version, alias)
    return model_version


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Keep MLflow's own stderr prints for ``-v`` (they go to this module's INFO log)."""
    if logging.getLogger().getEffectiveLevel() <= logging.INFO:
        yield
        return
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield
    for line in buffer.getvalue().splitlines():
        log.info("%s", line)


def _version_tags(run_id: str) -> dict[str, str]:
    run = MlflowClient().get_run(run_id)
    found = {k: run.data.tags[k] for k in _VERSION_TAGS if k in run.data.tags}
    sharpe = run.data.metrics.get("best/sharpe")
    if sharpe is not None:
        found[tags.VAL_SHARPE] = f"{sharpe:.4f}"
    found[tags.SOURCE_RUN_ID] = run_id
    return found


def _describe(version_tags: Mapping[str, str]) -> str:
    get = version_tags.get
    return (
        f"{get(tags.ALGO, '?')} policy on {get(tags.SYMBOL, '?')} {get(tags.TIMEFRAME, '?')} "
        f"({get(tags.SOURCE, '?')}); trained {get(tags.TRAIN_START, '?')} .. "
        f"{get(tags.TRAIN_END, '?')}, validated {get(tags.VAL_START, '?')} .. "
        f"{get(tags.VAL_END, '?')} (annualised Sharpe {get(tags.VAL_SHARPE, '?')}); "
        f"source run {get(tags.SOURCE_RUN_ID, '?')}."
    )


def _validation_line(metrics: Mapping[str, float]) -> str:
    """The chosen checkpoint's validation figures (``best/*``) for the agent, the prior and
    buy-and-hold side by side; empty when the run logged none."""
    if "best/total_return" not in metrics:
        return ""

    def figures(prefix: str) -> str:
        ret, sharpe = metrics.get(f"best/{prefix}total_return"), metrics.get(f"best/{prefix}sharpe")
        if ret is None or sharpe is None:
            return "n/a"
        return f"return {ret:+.2%}, Sharpe {sharpe:.2f}"

    line = (
        f" Validation: agent {figures('')}; prior trend_voltarget {figures('prior_')}; "
        f"buy-and-hold {figures('bh_')}"
    )
    fills = metrics.get("best/fills")
    if fills == 0:
        return line + "; the agent never traded on validation."
    return line + (f"; {fills:.0f} fills." if fills is not None else ".")


def logged_model_uri(run_id: str) -> str:
    """``models:/<model id>`` of the policy model run ``run_id`` logged, whatever its name
    (MLflow 3 keeps logged models apart from run artifacts), else ``runs:/<run_id>/model``."""
    try:
        return _run_model_uri(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(f"run {run_id}: {exc.message}") from None


def _run_model_uri(run_id: str) -> str:
    """:func:`logged_model_uri`, MLflow's errors left to the caller."""
    client = MlflowClient()
    run = client.get_run(run_id)
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    if found:
        return f"models:/{found[0].model_id}"
    return f"runs:/{run_id}/{MODEL_ARTIFACT}"


def resolve_model_uri(model_uri: str) -> tuple[str | None, int | None, str | None]:
    """(registered name, version, source run id) of ``model_uri`` as far as the URI tells."""
    client = MlflowClient()
    try:
        if match := _ALIAS_URI.match(model_uri):
            mv = client.get_model_version_by_alias(match["name"], match["alias"])
            return match["name"], int(mv.version), mv.run_id
        if match := _VERSION_URI.match(model_uri):
            mv = client.get_model_version(match["name"], match["version"])
            return match["name"], int(mv.version), mv.run_id
    except mlflow.exceptions.MlflowException as exc:
        raise BtcrlError(f"model {model_uri} not found in the registry: {exc.message}") from None
    if match := _RUN_URI.match(model_uri):
        return None, None, match["run_id"]
    if _SCHEME.match(model_uri):
        raise BtcrlError(
            f"model URI {model_uri!r} is not supported: use models:/NAME@ALIAS, models:/NAME/V, "
            "runs:/ID/model or a local path"
        )
    return None, None, None


def download_policy_model(model_uri: str) -> tuple[dict[str, Path], str | None]:
    """Download (or find locally) model ``model_uri``; its policy artifact files by name and
    the run that logged it. BtcrlError when it is not a btcrl policy model."""
    local = _download(model_uri)
    meta = Model.load(str(local / "MLmodel"))
    flavor = meta.flavors.get("python_function", {})
    files = {k: local / v["path"] for k, v in (flavor.get("artifacts") or {}).items()}
    missing = set(POLICY_ARTIFACTS) - set(files)
    if missing:
        raise BtcrlError(f"{model_uri} is not a btcrl policy model: no {sorted(missing)} artifacts")
    return files, meta.run_id


def _download(model_uri: str) -> Path:
    path = Path(model_uri)
    if not _SCHEME.match(model_uri):
        if not (path / "MLmodel").is_file():
            raise BtcrlError(
                f"model path {model_uri} is not an MLflow model directory (no MLmodel)"
            )
        return path
    asked = model_uri
    try:
        match = _RUN_URI.match(model_uri)
        if match and match["path"].rstrip("/") == MODEL_ARTIFACT:  # the run's model, any name
            model_uri = _run_model_uri(match["run_id"])
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        raise BtcrlError(f"cannot load model {asked}: {message}".splitlines()[0]) from None


_LOGGED = re.compile(r"^models:/m-[0-9a-f]+$")


def log_version_metrics(metrics: Mapping[str, float], name: str, version: int) -> bool:
    """Log ``metrics`` (finite values) to the active run linked to the logged model behind
    version ``version`` of ``name`` (MLflow 3's ``model_id``), so that the model lists the
    runs that measured it, and tag the run ``btcrl.model_id``. False (nothing logged) when
    the version has no logged model (registered from a plain artifact path)."""
    try:
        found = MlflowClient().get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        log.warning("cannot read %s version %s: %s", name, version, exc)
        return False
    source = str(found.source or "")  # models:/m-<id> when registered from a logged model
    model_id = found.model_id or (source.removeprefix("models:/") if _LOGGED.match(source) else "")
    if not model_id:
        return False
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    mlflow.log_metrics(finite, model_id=model_id)
    mlflow.set_tag(tags.MODEL_ID, model_id)
    return True
