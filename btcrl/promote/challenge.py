"""``btcrl promote``: a challenger version against the champion, through the gate.

1. Read the challenger version's tags (:mod:`btcrl.tracking.aliases`): its stitched
   out-of-sample DSR and the N it counted, its out-of-sample windows, and the run holding
   ``oos_returns.csv``. When that run is an entry of the trial ledger (a walk-forward
   parent), N, V and the DSR are counted again from the ledger as it is now: configurations
   tried on the same windows after the challenger was registered count too.
2. If the model has a ``champion``, re-run the champion's policy over the challenger's windows
   on the challenger's data, by the same engine (:func:`btcrl.promote.replay.policy_returns`),
   and keep the bars both series cover.
3. :func:`btcrl.promote.gate.decide`; move ``champion`` only when it says so.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, read_oos_returns
from btcrl.config import ExperimentConfig
from btcrl.errors import BtcrlError, CompatibilityError
from btcrl.metrics import stats
from btcrl.promote.gate import Decision, decide
from btcrl.tracking import configure_tracking
from btcrl.tracking import tags as tag_names
from btcrl.tracking.aliases import (
    CHAMPION,
    alias_version,
    parse_windows,
    resolve_version,
    set_alias,
    version_tags,
)
from btcrl.tracking.lookup import download_run_artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromoteResult:
    """The gate's decision for version ``version`` of ``name``; ``champion_version`` is the
    champion it was compared with (None: there was none), ``bars`` the bars compared."""

    name: str
    version: int
    champion_version: int | None
    decision: Decision
    bars: int


def _tag(tags: dict[str, str], key: str, what: str) -> str:
    value = tags.get(key, "").strip()
    if not value:
        raise BtcrlError(
            f"{what} has no tag {key}: only a walk-forward or tune output can be promoted"
        )
    return value


def _dsr(tags: dict[str, str], what: str) -> float:
    text = _tag(tags, tag_names.OOS_DSR, what)
    try:
        value = float(text)
    except ValueError:
        raise BtcrlError(f"{what}: tag {tag_names.OOS_DSR}={text!r} is not a number") from None
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise BtcrlError(f"{what}: tag {tag_names.OOS_DSR}={text!r} is not a probability in [0, 1]")
    return value


def _n_trials(tags: dict[str, str]) -> int | None:
    """The N on the version (None when it predates the tag or is not a count)."""
    text = tags.get(tag_names.OOS_N_TRIALS, "").strip()
    return int(text) if text.isdigit() else None


def _ledger_dsr(parent_run_id: str, returns: np.ndarray) -> tuple[float, int] | None:
    """(DSR, N) of ``returns`` counted on the trial ledger of the parent's window set; None
    when the parent run is no ledger entry (a tune's parent: the study counted its N)."""
    from btcrl.tracking.ledger import ledger_entries
    from btcrl.tracking.lookup import run_tags

    window_set = run_tags(parent_run_id).get(tag_names.LEDGER_WINDOW_SET)
    if not window_set:
        return None
    entries = ledger_entries(window_set)
    if not entries:
        return None
    trials = stats.trial_count([e.sharpe_per_bar for e in entries], "trial ledger")
    try:
        dsr = stats.deflated_sharpe_ratio(returns, trials.n_trials, trials.sharpe_variance)
    except ValueError as exc:
        raise BtcrlError(
            f"run {parent_run_id}: no DSR of its {OOS_RETURNS_ARTIFACT}: {exc}"
        ) from None
    log.info(
        "trial ledger %s: N = %d, V = %.3g", window_set, trials.n_trials, trials.sharpe_variance
    )
    return dsr, trials.n_trials


def _challenger_returns(parent_run_id: str, what: str) -> pd.Series:
    with tempfile.TemporaryDirectory(prefix="btcrl-promote-") as tmp:
        path = download_run_artifact(parent_run_id, OOS_RETURNS_ARTIFACT, Path(tmp))
        try:
            series = read_oos_returns(path)
        except ValueError as exc:
            raise BtcrlError(f"{what}: run {parent_run_id}'s {exc}") from None
    if len(series) < 2:
        raise BtcrlError(f"{what}: {OOS_RETURNS_ARTIFACT} holds {len(series)} returns; need 2")
    return series


def _align(
    challenger: pd.Series, champion: pd.Series, min_overlap: float, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Both series on the bars they share; CompatibilityError when the champion's re-run
    covers less than ``min_overlap`` of the challenger's bars."""
    common = challenger.index.intersection(champion.index)
    share = len(common) / len(challenger)
    if len(common) < 2 or share < min_overlap:
        raise CompatibilityError(
            f"{what}: the champion's re-run covers {len(common)} of the challenger's "
            f"{len(challenger)} out-of-sample bars ({share:.0%} < promote.min_overlap "
            f"{min_overlap:.0%}); are both on the same data?"
        )
    if len(common) < len(challenger):
        log.warning("comparing on %d of %d out-of-sample bars", len(common), len(challenger))
    return challenger.loc[common].to_numpy(), champion.loc[common].to_numpy()


def promote_model(config: ExperimentConfig, model_uri: str) -> PromoteResult:
    """Decide on ``model_uri`` (``models:/NAME/V`` or ``models:/NAME@ALIAS``) and move
    ``NAME@champion`` to it only when the gate passes (module docstring).
    ``config.promote.allow_single_trial``: accept a DSR that counted N = 1 (the PSR).

    The champion is replayed on the challenger model's own data section (source, market,
    timeframe; ``data_dir`` from ``config``) with the challenger's fees and slippage, and
    ``config.backtest.force_close``. Raises BtcrlError (one line) for a version without the
    walk-forward tags, a missing returns artifact, or a champion that cannot be compared.
    """
    from btcrl.policy import load_policy
    from btcrl.promote.replay import policy_returns

    configure_tracking(config.tracking)
    name, version = resolve_version(model_uri)
    what = f"{name} version {version}"
    tags = version_tags(name, version)
    dsr, n_trials = _dsr(tags, what), _n_trials(tags)
    windows = parse_windows(_tag(tags, tag_names.OOS_WINDOWS, what))
    parent = _tag(tags, tag_names.OOS_PARENT_RUN, what)
    challenger = _challenger_returns(parent, what)
    counted = _ledger_dsr(parent, challenger.to_numpy())
    if counted is not None:
        dsr, n_trials = counted
    champion_version = alias_version(name, CHAMPION)
    if champion_version == version:
        decision = Decision(False, "not promoted: it is already the champion")
        return PromoteResult(name, version, version, decision, 0)
    ours, theirs = challenger.to_numpy(), None
    if champion_version is not None:
        loaded = load_policy(f"models:/{name}/{version}")
        data = loaded.config.data.model_copy(update={"data_dir": config.data.data_dir})
        champion = policy_returns(
            f"models:/{name}/{champion_version}",
            windows,
            data,
            loaded.config.env,
            config.backtest.force_close,
        )
        ours, theirs = _align(challenger, champion, config.promote.min_overlap, what)
    try:
        gate = config.promote
        decision = decide(dsr, ours, theirs, gate.min_dsr, n_trials, gate.allow_single_trial)
    except ValueError as exc:
        raise BtcrlError(f"{what}: {exc}") from None
    if decision.promote:
        set_alias(name, CHAMPION, version)
    log.info("%s: %s", what, decision.reason)
    return PromoteResult(name, version, champion_version, decision, len(ours))
