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
from typing import Annotated, Any, Literal

import optuna
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from btcrl.config import ExperimentConfig, flatten_config, with_overrides
from btcrl.errors import ConfigError

SPACES_DIR = Path("configs") / "spaces"
_PACKAGE_SPACES = Path(__file__).resolve().parents[2] / SPACES_DIR
_KINDS = ("float", "int", "categorical")
_FORBIDDEN_SECTIONS = ("tune", "tracking", "data")


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


def _check_key(where: str, key: str, known: Mapping[str, str]) -> None:
    if key not in known:
        raise ConfigError(f"{where}: {key!r} is not a config key (e.g. agent.learning_rate)")
    if key.split(".")[0] in _FORBIDDEN_SECTIONS or key == "agent.algo":
        raise ConfigError(f"{where}: {key!r} cannot be tuned")


class _Distribution(BaseModel):
    """What every space entry may carry: ``when`` (earlier param -> value or list of values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    when: dict[str, Any] = {}

    def conditions(self) -> dict[str, tuple[Any, ...]]:
        return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in self.when.items()}


class _Numeric(_Distribution):
    """``{type: float | int, low, high, log?, step?}``; an int range is in whole numbers."""

    low: StrictFloat | StrictInt
    high: StrictFloat | StrictInt
    log: StrictBool = False
    step: StrictFloat | StrictInt | None = None

    @model_validator(mode="after")
    def _check_range(self) -> "_Numeric":
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log needs low > 0 and no step")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step {self.step} must be positive")
        return self


class _Float(_Numeric):
    type: Literal["float"]


class _Int(_Numeric):
    type: Literal["int"]

    @model_validator(mode="after")
    def _check_whole(self) -> "_Int":
        numbers = (self.low, self.high) if self.step is None else (self.low, self.high, self.step)
        if not all(float(x).is_integer() for x in numbers):
            raise ValueError("is int but low/high/step are not whole numbers")
        return self


class _Categorical(_Distribution):
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)


_ENTRY: TypeAdapter[_Float | _Int | _Categorical] = TypeAdapter(
    Annotated[_Float | _Int | _Categorical, Field(discriminator="type")]
)


def _entry_error(key: str, exc: ValidationError) -> str:
    """The first fault of a space entry as one line naming the key."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"][1:]]  # after the discriminator's tag
    kind = error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found", "model_attributes_type"):
        return f"{key} needs a mapping with type one of {', '.join(_KINDS)}"
    if kind == "extra_forbidden":
        return f"{key} has unknown field {loc[-1]!r} for {error['loc'][0]}"
    if kind == "value_error":
        return f"{key} {error['ctx']['error']}"  # a model validator's own words
    if loc and loc[0] == "choices":
        return f"{key}.choices must be a non-empty list"
    if kind == "missing":
        return f"{key} needs {loc[0]}"
    return f"{key}.{loc[0]}: {error['msg'].lower()} (got {error.get('input')!r})"


def _parse_param(where: str, key: Any, raw: Any, known: Mapping[str, str]) -> ParamSpec:
    """One ``params`` entry, validated by its pydantic model (``_Float``, ``_Int``,
    ``_Categorical``), as a ParamSpec; one-line ConfigError naming the key."""
    key = str(key)
    _check_key(where, key, known)
    try:
        entry = _ENTRY.validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_entry_error(key, exc)}") from None
    if isinstance(entry, _Categorical):
        return ParamSpec(key, entry.type, choices=tuple(entry.choices), when=entry.conditions())
    low, high = float(entry.low), float(entry.high)
    step = None if entry.step is None else float(entry.step)
    return ParamSpec(key, entry.type, low, high, entry.log, step, (), entry.conditions())


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
