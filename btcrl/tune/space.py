"""Search spaces: YAML files of dotted config keys -> distributions, and sampling from them.

A space file (``configs/spaces/<algo>.yaml``) looks like::

    algo: ppo                       # optional; must match agent.algo when given
    fixed:                          # optional: dotted overrides applied to every trial
      agent.n_epochs: 4
    params:
      agent.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
      agent.n_steps: {type: int, low: 64, high: 512, step: 64}
      agent.net_arch: {type: categorical, choices: [[64, 64], [128, 128]]}
      env.reward: {type: categorical, choices: [log_return, asymmetric_drawdown]}
      env.downside_weight: {type: float, low: 1.0, high: 4.0,
                            when: {env.reward: asymmetric_drawdown}}

``when`` makes a parameter conditional: it is sampled only when the named, earlier
parameters took the given value (or one of a list of values). ``sample_params(trial, space)``
is kept apart from the objective, as in optuna-examples' ``rl/sb3_simple.py``.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import optuna
import yaml

from btcrl.config import ExperimentConfig, flatten_config, with_overrides
from btcrl.errors import ConfigError

SPACES_DIR = Path("configs") / "spaces"
_PACKAGE_SPACES = Path(__file__).resolve().parents[2] / SPACES_DIR
_KINDS = ("float", "int", "categorical")
_FORBIDDEN_SECTIONS = ("tune", "tracking", "data")
_SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
}


@dataclass(frozen=True)
class ParamSpec:
    """One searchable config key and its distribution."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def labels(self) -> tuple[Any, ...]:
        """Categorical choices as Optuna accepts them (lists become JSON strings)."""
        return tuple(_label(c) for c in self.choices)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space read from ``path``."""

    path: Path
    params: tuple[ParamSpec, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    algo: str | None = None


def resolve_space_path(space: str | None, algo: str) -> Path:
    """Find the space file: ``space`` as a path, else a name in ``configs/spaces``.

    Lookup order: ``space`` as given (absolute or relative to the cwd); ``space`` (or
    ``<algo>``) as ``configs/spaces/<name>.yaml`` under the cwd, then under the btcrl
    checkout the package was installed from. Raises ConfigError listing where it looked.
    """
    name = space or algo
    candidates: list[Path] = []
    if space:
        candidates.append(Path(space).expanduser())
    stem = Path(name).name if Path(name).suffix in (".yaml", ".yml") else f"{name}.yaml"
    candidates += [Path.cwd() / SPACES_DIR / stem, _PACKAGE_SPACES / stem]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in dict.fromkeys(candidates))
    raise ConfigError(f"search space {name!r} not found (looked at {tried})")


def load_space(path: Path, config: ExperimentConfig) -> SearchSpace:
    """Read and validate a space file against ``config``; one-line ConfigError on any fault.

    Every key must exist in the config tree, and every bound and choice must be a value the
    config accepts, so a bad space fails here, before any training starts.
    """
    where = f"search space {path}"
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(tree, dict) or not isinstance(tree.get("params"), dict):
        raise ConfigError(f"{where} must be a mapping with a 'params' mapping")
    unknown = set(tree) - {"algo", "fixed", "params"}
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key {sorted(unknown)[0]!r}")
    algo = tree.get("algo")
    if algo is not None and algo != config.agent.algo:
        raise ConfigError(f"{where} is for algo {algo!r}, but agent.algo is {config.agent.algo!r}")
    fixed = tree.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ConfigError(f"{where}: 'fixed' must be a mapping of dotted keys to values")
    known = flatten_config(config)
    params = tuple(_parse_param(where, k, v, known) for k, v in tree["params"].items())
    if not params:
        raise ConfigError(f"{where} has no params")
    for key in fixed:
        _check_key(where, str(key), known)
    _check_values(where, config, params, fixed)
    _check_conditions(where, params)
    return SearchSpace(path=path, params=params, fixed=dict(fixed), algo=algo)


def sample_params(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample one point of ``space``: dotted config key -> value (conditionals may be absent)."""
    values: dict[str, Any] = {}
    for spec in space.params:
        if any(values.get(k, _MISSING) not in allowed for k, allowed in spec.when.items()):
            continue
        if spec.kind == "float":
            values[spec.key] = trial.suggest_float(
                spec.key, spec.low, spec.high, log=spec.log, step=spec.step
            )
        elif spec.kind == "int":
            values[spec.key] = trial.suggest_int(
                spec.key, int(spec.low), int(spec.high), log=spec.log, step=int(spec.step or 1)
            )
        else:
            label = trial.suggest_categorical(spec.key, spec.labels())
            values[spec.key] = spec.choices[spec.labels().index(label)]
    return values


def decode_params(params: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Optuna's stored params (labels) -> config values, e.g. for a trial's best params."""
    specs = {s.key: s for s in space.params}
    out: dict[str, Any] = {}
    for key, value in params.items():
        spec = specs.get(key)
        if spec is not None and spec.kind == "categorical" and value in spec.labels():
            value = spec.choices[spec.labels().index(value)]
        out[key] = value
    return out


_MISSING = object()


def _label(choice: Any) -> Any:
    if choice is None or isinstance(choice, bool | int | float | str):
        return choice
    return json.dumps(choice)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_key(where: str, key: str, known: Mapping[str, str]) -> None:
    if key not in known:
        raise ConfigError(f"{where}: {key!r} is not a config key (e.g. agent.learning_rate)")
    if key.split(".")[0] in _FORBIDDEN_SECTIONS or key == "agent.algo":
        raise ConfigError(f"{where}: {key!r} cannot be tuned")


def _parse_param(where: str, key: Any, raw: Any, known: Mapping[str, str]) -> ParamSpec:
    key = str(key)
    _check_key(where, key, known)
    if not isinstance(raw, dict) or raw.get("type") not in _KINDS:
        raise ConfigError(f"{where}: {key} needs a mapping with type one of {', '.join(_KINDS)}")
    kind = raw["type"]
    extra = set(raw) - _SPEC_KEYS[kind]
    if extra:
        raise ConfigError(f"{where}: {key} has unknown field {sorted(extra)[0]!r} for {kind}")
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise ConfigError(f"{where}: {key}.when must map a parameter to a value or list")
    cond = {str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in when.items()}
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {key}.choices must be a non-empty list")
        return ParamSpec(key=key, kind=kind, choices=tuple(choices), when=cond)
    raw_low, raw_high, raw_step = raw.get("low"), raw.get("high"), raw.get("step")
    if not (_is_number(raw_low) and _is_number(raw_high)):
        raise ConfigError(
            f"{where}: {key} needs numeric low and high (got {raw_low!r}, {raw_high!r})"
        )
    if raw_step is not None and not _is_number(raw_step):
        raise ConfigError(f"{where}: {key}.step {raw_step!r} is not a number")
    low, high = float(raw_low), float(raw_high)
    step = None if raw_step is None else float(raw_step)
    numbers = (low, high) if step is None else (low, high, step)
    if kind == "int" and not all(x.is_integer() for x in numbers):
        raise ConfigError(f"{where}: {key} is int but low/high/step are not whole numbers")
    if not low < high:
        raise ConfigError(f"{where}: {key} low {raw_low} must be below high {raw_high}")
    log = raw.get("log", False)
    if not isinstance(log, bool) or (log and (low <= 0 or step is not None)):
        raise ConfigError(f"{where}: {key}.log needs low > 0 and no step")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: {key}.step {raw_step} must be positive")
    return ParamSpec(key, kind, low, high, log, step, (), cond)


def _check_values(
    where: str, config: ExperimentConfig, params: tuple[ParamSpec, ...], fixed: Mapping[str, Any]
) -> None:
    try:
        base = with_overrides(config, fixed)
    except ConfigError as exc:
        raise ConfigError(f"{where}: fixed: {exc}") from None
    for spec in params:
        if spec.kind == "categorical":
            values: tuple[Any, ...] = spec.choices
        elif spec.kind == "int":
            values = (int(spec.low), int(spec.high))
        else:
            values = (spec.low, spec.high)
        for value in values:
            try:
                with_overrides(base, {spec.key: value})
            except ConfigError as exc:
                raise ConfigError(f"{where}: {spec.key} value {value!r}: {exc}") from None


def _check_conditions(where: str, params: tuple[ParamSpec, ...]) -> None:
    seen: dict[str, ParamSpec] = {}
    for spec in params:
        for key, allowed in spec.when.items():
            parent = seen.get(key)
            if parent is None:
                raise ConfigError(f"{where}: {spec.key}.when names {key!r}, not an earlier param")
            if parent.kind == "categorical" and not set(map(_label, allowed)) <= set(
                parent.labels()
            ):
                raise ConfigError(f"{where}: {spec.key}.when {key}={list(allowed)} not a choice")
        seen[spec.key] = spec
