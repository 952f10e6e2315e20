"""How much of the best trial's score is selection: its DSR with N and PBO by CSCV.

Every trial's out-of-sample per-bar return series (``oos_returns.csv`` of its run: the
stitched inner folds for the walkforward objective, the validation span for holdout) is
read back after the study. N counts every trial tried (complete, pruned and failed; the
ones still running or waiting are not tried yet). With the holdout objective a trial also
picks its best checkpoint on the very span its score is read on, so there N counts every
checkpoint evaluated there (each trial's validation history, at least 1 a trial): a
conservative count, since a trial's checkpoints are correlated and the independent N lies
between the trials and their checkpoints. The walkforward objective picks checkpoints on
each fold's train tail, not on the test windows, so its N is the trials. The best trial's
Deflated Sharpe Ratio (:func:`btcrl.metrics.stats.deflated_sharpe_ratio`) uses that N and
the variance of the per-bar Sharpe ratios of the complete trials' series; ``others`` (the
trial ledger's entries on the same windows that are not this study's trials, e.g. an
earlier study on the same folds) add to both. PBO
(:func:`btcrl.backtest.pbo.pbo_cscv`) runs over the (bars x complete trials) matrix on the
bars all series share, with S = ``tune.pbo_partitions`` lowered (to an even number) until
every block holds at least ``MIN_BLOCK_BARS`` bars.
"""

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from btcrl.backtest.pbo import pbo_cscv
from btcrl.backtest.pbo_plot import pbo_logit_figure
from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, read_oos_returns
from btcrl.errors import BtcrlError
from btcrl.metrics import sharpe_per_bar, stats
from btcrl.tracking import log_artifact, log_metrics
from btcrl.tracking.lookup import download_run_artifact

log = logging.getLogger(__name__)

TRIED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
MIN_BLOCK_BARS = 8
PBO_PLOT = "plots/pbo_logits.html"


@dataclass
class SelectionStats:
    """N, the best trial's series statistics and the PBO (NaN where not computable)."""

    n_trials: int  # trials tried
    n_series: int
    n_deflated: int = 0  # the N of the DSR: n_trials or the checkpoints (holdout), + others
    n_others: int = 0  # trial-ledger entries on the same windows from outside the study
    best_sharpe_per_bar: float = math.nan
    sharpe_variance: float = math.nan
    dsr: float = math.nan
    psr: float = math.nan
    expected_max_sharpe: float = math.nan
    pbo: float = math.nan
    pbo_partitions: int = 0
    best_returns: pd.Series | None = field(default=None, repr=False)
    sharpes: dict[int, float] = field(default_factory=dict, repr=False)  # per-bar, per trial

    def metrics(self) -> dict[str, float]:
        """The parent run's ``selection/*`` metrics."""
        return {
            "selection/n_trials": float(self.n_trials),
            "selection/n_series": float(self.n_series),
            "selection/dsr_n": float(self.n_deflated),
            "selection/ledger_others": float(self.n_others),
            "selection/best_sharpe_per_bar": self.best_sharpe_per_bar,
            "selection/sharpe_variance": self.sharpe_variance,
            "selection/expected_max_sharpe_per_bar": self.expected_max_sharpe,
            "selection/psr": self.psr,
            "selection/dsr": self.dsr,
            "selection/pbo": self.pbo,
            "selection/pbo_partitions": float(self.pbo_partitions),
        }


def count_tried(trials: list[FrozenTrial]) -> int:
    """N: trials that were tried (complete, pruned or failed)."""
    return sum(t.state in TRIED for t in trials)


def count_checkpoints(trials: list[FrozenTrial], run_ids: dict[int, str], metric: str) -> int:
    """N of a holdout study: per tried trial, the values of validation ``metric`` its run
    logged (one per checkpoint evaluated on the validation span; at least 1 a trial)."""
    from btcrl.tracking.ledger import evaluations_logged

    total = 0
    for trial in trials:
        if trial.state in TRIED:
            run_id = run_ids.get(trial.number)
            total += max(1, evaluations_logged(run_id, metric) if run_id else 0)
    return total


def partitions_for(bars: int, wanted: int) -> int:
    """The largest even S <= ``wanted`` with at least MIN_BLOCK_BARS bars a block; 0 when
    not even S = 2 fits."""
    s = wanted - wanted % 2
    while s >= 2 and bars // s < MIN_BLOCK_BARS:
        s -= 2
    return max(s, 0)


def trial_series(run_ids: dict[int, str], trials: list[FrozenTrial]) -> dict[int, pd.Series]:
    """Complete trial number -> its per-bar returns, from each run's ``oos_returns.csv``
    (a trial without the file is left out, with a warning)."""
    found: dict[int, pd.Series] = {}
    with tempfile.TemporaryDirectory(prefix="btcrl-tune-series-") as tmp:
        for trial in trials:
            run_id = run_ids.get(trial.number)
            if trial.state != TrialState.COMPLETE or not run_id:
                continue
            folder = Path(tmp) / str(trial.number)
            folder.mkdir()
            try:
                found[trial.number] = read_oos_returns(
                    download_run_artifact(run_id, OOS_RETURNS_ARTIFACT, folder)
                )
            except (BtcrlError, ValueError) as exc:
                log.warning("trial %d has no return series: %s", trial.number, exc)
    return found


def selection_stats(
    series: dict[int, pd.Series],
    n_trials: int,
    best: int | None,
    partitions: int,
    n_deflated: int | None = None,
    others: Sequence[float] = (),
) -> tuple[SelectionStats, object | None]:
    """The statistics and the PBO result (None when fewer than 2 series or too few bars).
    ``n_deflated``: the study's N when it is not ``n_trials`` (the holdout's checkpoints);
    ``others``: per-bar Sharpe ratios of configurations tried on the same windows outside
    the study (the trial ledger), added to N and V."""
    deflate_by = max(n_deflated or n_trials, 1) + len(others)
    out = SelectionStats(n_trials=n_trials, n_series=len(series), n_deflated=deflate_by)
    out.n_others = len(others)
    sharpes = {n: _sharpe(s.to_numpy()) for n, s in series.items()}
    out.sharpes = sharpes
    pooled = [*sharpes.values(), *others]
    finite = np.array([v for v in pooled if math.isfinite(v)])
    out.sharpe_variance = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    if best is not None and best in series and len(series[best]) >= 3:
        returns = series[best].to_numpy()
        out.best_returns = series[best]
        out.best_sharpe_per_bar = sharpes[best]
        trials_n = deflate_by
        try:
            out.psr = stats.probabilistic_sharpe_ratio(returns)
            out.dsr = stats.deflated_sharpe_ratio(returns, trials_n, out.sharpe_variance)
            out.expected_max_sharpe = stats.expected_max_sharpe(trials_n, out.sharpe_variance)
        except ValueError as exc:  # e.g. a flat series has no defined Sharpe distribution
            log.warning("DSR of trial %d not computable: %s", best, exc)
    if len(series) < 2:
        return out, None
    matrix = pd.concat(series, axis=1, join="inner").to_numpy(np.float64)
    out.pbo_partitions = partitions_for(matrix.shape[0], partitions)
    if out.pbo_partitions < 2:
        return out, None
    result = pbo_cscv(matrix, out.pbo_partitions)
    out.pbo = float(result.pbo)
    return out, result


def log_selection(
    trials: list[FrozenTrial],
    run_ids: dict[int, str],
    best: int | None,
    partitions: int,
    checkpoint_metric: str | None = None,
    series: dict[int, pd.Series] | None = None,
    others: Sequence[float] = (),
) -> SelectionStats:
    """Compute and log (active run) ``selection/*`` metrics, ``trial_returns.csv`` (one
    column per complete trial) and the PBO logit plot ``plots/pbo_logits.html``.
    ``checkpoint_metric``: the validation metric whose history counts each trial's
    checkpoints into the DSR's N (holdout objective); None = N is the trials tried.
    ``series``: the trials' return series when already read (:func:`trial_series`);
    ``others``: see :func:`selection_stats`."""
    series = trial_series(run_ids, trials) if series is None else series
    tried = count_tried(trials)
    checkpoints = (
        count_checkpoints(trials, run_ids, checkpoint_metric) if checkpoint_metric else None
    )
    result, pbo = selection_stats(series, tried, best, partitions, checkpoints, others)
    log_metrics(result.metrics())
    with tempfile.TemporaryDirectory(prefix="btcrl-tune-") as tmp:
        if series:
            frame = pd.concat({f"trial_{n}": s for n, s in series.items()}, axis=1)
            frame.index.name = "time"
            frame.to_csv(Path(tmp) / "trial_returns.csv")
            log_artifact(Path(tmp) / "trial_returns.csv")
        if pbo is not None:
            path = Path(tmp) / Path(PBO_PLOT).name
            fig = pbo_logit_figure(pbo, f"PBO of the study's selection ({len(series)} trials)")  # type: ignore[arg-type]
            fig.write_html(str(path), include_plotlyjs=True, full_html=True)
            log_artifact(path, "plots")
    return result


def _sharpe(values: np.ndarray) -> float:
    try:
        return float(sharpe_per_bar(values))
    except ValueError:
        return math.nan
