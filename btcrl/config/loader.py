"""Load the config tree once: defaults <- YAML file <- ``key.path=value`` overrides."""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from btcrl.config.experiment import ExperimentConfig, shipped_action_mode, shipped_env
from btcrl.config.redact import redact_tree
from btcrl.config.tune import DEFAULT_METRICS
from btcrl.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (``2024-02-30``) stay strings, so that validation
    names the key and the value instead of YAML raising a bare ValueError."""


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def load_config(
    path: Path | str | None = None,
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """Read ``path`` (YAML, optional), apply ``key.path=value`` overrides, then the typed
    ``values`` (dotted key -> value, set as given), validate.

    Override values are parsed as YAML scalars/lists (``--set agent.net_arch=[128,128]``);
    ``values`` (command options) are not. Raises ConfigError naming the key, the value and
    what is allowed.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        tree = _read_yaml(Path(path))
    for item in overrides:
        key, value = _parse_override(item)
        _set_path(tree, key, value)
    for key, value in (values or {}).items():
        _set_path(tree, key, value)
    return build_config(tree)


def build_config(tree: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a nested mapping into an ExperimentConfig, or raise a one-line ConfigError."""
    try:
        return ExperimentConfig.model_validate(dict(tree))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, tree)) from None


def with_overrides(config: ExperimentConfig, values: Mapping[str, Any]) -> ExperimentConfig:
    """Return a copy of ``config`` with dotted ``values`` set, validated again."""
    tree = config.model_dump(mode="json")
    for key, value in values.items():
        _set_path(tree, key, value)
    _refill_derived(config, tree, values)
    return build_config(tree)


def _refill_derived(
    config: ExperimentConfig, tree: dict[str, Any], values: Mapping[str, Any]
) -> None:
    """A value that was filled in from another one is filled in again when that one changes
    (unless it is set too): ``tune.metrics`` left at the old objective's default follows a
    new ``tune.objective``; ``env.action_mode`` and ``env.reward`` left at the shipped
    default (:func:`btcrl.config.experiment.shipped_env`: residual with the excess reward
    when the prior is on and no ``action_levels``) follow ``features.prior``,
    ``env.action_levels`` and the action mode."""
    if not any(k == "env" or k.startswith("env.action_mode") for k in values):
        derived = shipped_action_mode(config.features.prior.enabled, config.env.action_levels)
        if config.env.action_mode == derived:
            tree["env"].pop("action_mode", None)
    reward_set = any(k in ("env", "env.reward") for k in values)
    if not reward_set and config.env.reward == shipped_env(config.env.action_mode)["reward"]:
        tree["env"].pop("reward", None)
    tune = config.tune
    if (
        "tune.objective" in values
        and "tune.metrics" not in values
        and tuple(tune.metrics) == DEFAULT_METRICS[tune.objective]
    ):
        tree["tune"]["metrics"] = []


def flatten_config(config: ExperimentConfig) -> dict[str, str]:
    """Dotted keys -> string values, as logged to MLflow params (credentials redacted)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            flat[prefix] = str(node)

    walk("", redact_tree(config.model_dump(mode="json")))
    return flat


def dump_config(config: ExperimentConfig) -> str:
    """The whole config as YAML text (what ``config.yaml`` artifacts hold), credentials
    redacted (see ``btcrl.config.redact``)."""
    return yaml.safe_dump(redact_tree(config.model_dump(mode="json")), sort_keys=False)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        tree = yaml.load(text, Loader=_Loader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(tree, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top, not {type(tree).__name__}"
        )
    return tree


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else None  # noqa: S506
    except yaml.YAMLError:
        value = raw
    return key, value


def _set_path(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {key}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _lookup(tree: Mapping[str, Any], loc: tuple[Any, ...]) -> Any:
    node: Any = tree
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _describe(exc: ValidationError, tree: Mapping[str, Any]) -> str:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-"))
    key = ".".join(str(p) for p in loc) or "config"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"config key {key} is unknown"
    value = _lookup(tree, loc)
    if isinstance(value, Mapping):
        return f"config section {key} is invalid: {message}"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"config key {key}={value!r} is invalid: {message}{more}"
