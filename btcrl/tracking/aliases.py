"""Registry aliases and model-version metadata (docs/selection.md).

Aliases with a meaning: ``candidate`` = the latest trained version; ``challenger`` = the
output of a walk-forward or a tune; ``champion`` = what passed the promotion gate.

The tags below are the contract between the runs that make a challenger (walk-forward, tune)
and ``btcrl promote``, which reads them:

- ``btcrl.oos_dsr``: Deflated Sharpe Ratio of the stitched out-of-sample returns (probability);
- ``btcrl.oos_n_trials``: the N it counted (with N = 1 ``btcrl.oos_dsr`` is the PSR);
- ``btcrl.oos_sharpe``: their per-period Sharpe;
- ``btcrl.parent_run_id``: the run holding the ``oos_returns.csv`` artifact
  (:data:`btcrl.backtest.selection.OOS_RETURNS_ARTIFACT`);
- ``btcrl.oos_windows``: the out-of-sample windows, :func:`format_windows`.
"""

import json
import logging
import re
from collections.abc import Mapping
from datetime import date

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from btcrl.errors import BtcrlError
from btcrl.tracking import tags as tag_names

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
#: aliases that say what a version is for; a version holds one at a time
ROLES = (CHALLENGER, CHAMPION)


_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_MISSING = "RESOURCE_DOES_NOT_EXIST"


def _message(exc: MlflowException) -> str:
    return str(exc.message).splitlines()[0]


def resolve_version(model_uri: str) -> tuple[str, int]:
    """(registered name, version) behind ``models:/NAME@ALIAS`` or ``models:/NAME/V``.

    Raises BtcrlError naming the URI for any other form or an unknown model/alias/version.
    """
    if match := _ALIAS_URI.match(model_uri):
        version = alias_version(match["name"], match["alias"])
        if version is None:
            raise BtcrlError(
                f"model {model_uri}: {match['name']!r} has no alias {match['alias']!r}"
            )
        return match["name"], version
    if match := _VERSION_URI.match(model_uri):
        version_tags(match["name"], int(match["version"]))  # raises when it does not exist
        return match["name"], int(match["version"])
    raise BtcrlError(
        f"model URI {model_uri!r} names no registered version: use models:/NAME@ALIAS or "
        "models:/NAME/VERSION"
    )


def alias_version(name: str, alias: str) -> int | None:
    """The version of model ``name`` behind ``alias``; None when the alias (or the model) does
    not exist. (Read from the model's alias map: stores disagree on the error for a missing
    alias.)"""
    try:
        aliases = MlflowClient().get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code == _MISSING:
            return None
        raise BtcrlError(f"cannot read alias {name}@{alias}: {_message(exc)}") from None
    version = aliases.get(alias)
    return None if version is None else int(version)


def set_alias(name: str, alias: str, version: int) -> None:
    """Point ``alias`` of model ``name`` at ``version`` (creating or moving it). A version
    holds one of the roles ``ROLES``: giving it one takes the other from it (a promoted
    challenger is the champion, no longer a challenger)."""
    client = MlflowClient()
    try:
        client.set_registered_model_alias(name, alias, str(version))
        if alias in ROLES:
            for other in ROLES:
                if other != alias and alias_version(name, other) == version:
                    client.delete_registered_model_alias(name, other)
    except MlflowException as exc:
        raise BtcrlError(
            f"cannot set {name}@{alias} to version {version}: {_message(exc)}"
        ) from None
    log.info("alias %s@%s -> version %d", name, alias, version)


def version_tags(name: str, version: int) -> dict[str, str]:
    """The tags of version ``version`` of model ``name``. Raises BtcrlError if it is unknown."""
    try:
        return dict(MlflowClient().get_model_version(name, str(version)).tags)
    except MlflowException as exc:
        raise BtcrlError(f"model {name} version {version} not found: {_message(exc)}") from None


def version_run_id(name: str, version: int) -> str | None:
    """The run that logged version ``version`` of ``name`` (None if the registry has none)."""
    try:
        return MlflowClient().get_model_version(name, str(version)).run_id or None
    except MlflowException as exc:
        raise BtcrlError(f"model {name} version {version} not found: {_message(exc)}") from None


def describe_version(
    name: str, version: int, tags: Mapping[str, object], description: str | None = None
) -> None:
    """Set ``tags`` (values as strings; None values skipped) and, when given, the description
    of version ``version`` of model ``name``."""
    client = MlflowClient()
    try:
        for key, value in tags.items():
            if value is not None:
                client.set_model_version_tag(name, str(version), key, str(value))
        if description is not None:
            client.update_model_version(name, str(version), description=description)
    except MlflowException as exc:
        raise BtcrlError(f"cannot tag model {name} version {version}: {_message(exc)}") from None


def tag_challenger(
    name: str,
    version: int,
    *,
    dsr: float,
    oos_sharpe: float,
    parent_run_id: str,
    windows: list[tuple[date, date]],
    n_trials: int | None = None,
    tags: Mapping[str, object] | None = None,
    description: str | None = None,
) -> None:
    """Mark version ``version`` of ``name`` as the ``challenger`` made by run
    ``parent_run_id`` (which must hold ``oos_returns.csv``): the tags promote reads (the DSR
    with the ``n_trials`` it counted, when known), any
    further ``tags`` (algo, data, spans, validation Sharpe, ...), the description, and the
    ``challenger`` alias moved to it."""
    contract = {
        tag_names.OOS_DSR: f"{dsr:.6f}",
        tag_names.OOS_SHARPE: f"{oos_sharpe:.6f}",
        tag_names.OOS_PARENT_RUN: parent_run_id,
        tag_names.OOS_WINDOWS: format_windows(windows),
        **({tag_names.OOS_N_TRIALS: str(n_trials)} if n_trials is not None else {}),
    }
    describe_version(name, version, {**(tags or {}), **contract}, description)
    set_alias(name, CHALLENGER, version)


def format_windows(windows: list[tuple[date, date]]) -> str:
    """Out-of-sample windows as the ``btcrl.oos_windows`` tag: JSON ``[["2024-01-01",
    "2024-03-31"], ...]``, inclusive UTC days."""
    return json.dumps([[start.isoformat(), end.isoformat()] for start, end in windows])


def parse_windows(text: str) -> list[tuple[date, date]]:
    """The inverse of :func:`format_windows`. Raises BtcrlError on a malformed value."""
    try:
        pairs = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in json.loads(text)]
    except (ValueError, TypeError) as exc:
        raise BtcrlError(
            f"tag {tag_names.OOS_WINDOWS} is not a list of [start, end] days: {exc}"
        ) from None
    for start, end in pairs:
        if end < start:
            raise BtcrlError(
                f"tag {tag_names.OOS_WINDOWS}: window {start}..{end} ends before it starts"
            )
    return pairs
