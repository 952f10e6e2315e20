"""The trial ledger: every configuration tried on one out-of-sample window set
(docs/selection.md), kept as tags on the runs that tried them.

An entry is a run (a walk-forward parent, a tune trial) tagged with the key of its window
set (:data:`~btcrl.tracking.tags.LEDGER_WINDOW_SET`, :func:`window_set_key`: the market, the
hash of the candles inside the windows and the windows themselves) and its per-bar Sharpe
ratio on those windows (:data:`~btcrl.tracking.tags.LEDGER_SHARPE`). The Deflated Sharpe
Ratio of a run on that window set counts N = the entries and V = the variance of their
per-bar Sharpe ratios. Re-recording a run overwrites its entry (a resumed walk-forward is
still one configuration); deleted runs are not entries (MLflow's search skips them).
"""

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from btcrl.errors import BtcrlError
from btcrl.tracking import tags

log = logging.getLogger(__name__)

WALKFORWARD = "walkforward"
WALKFORWARD_ENSEMBLE = "walkforward_ensemble"  # a walk-forward's seed ensemble (its own run)
TUNE_TRIAL = "tune_trial"
PAGE = 1000  # runs per search page


@dataclass(frozen=True)
class LedgerEntry:
    """One configuration tried on a window set: its run and per-bar Sharpe (not annualised)."""

    run_id: str
    run_name: str
    kind: str
    sharpe_per_bar: float


def window_set_key(market: str, data_hash: str, windows: Sequence[tuple[str, str]]) -> str:
    """The ledger key of out-of-sample ``windows`` (ISO UTC ``[start, stop)`` bar open times)
    on ``market`` (e.g. ``"csv binance BTC/USDT 1h"``) whose candles inside the windows hash
    to ``data_hash``: SHA-256 (first 16 hex digits) of the three. Pure."""
    payload = json.dumps([market, data_hash, [list(w) for w in windows]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_entry(run_id: str, window_set: str, sharpe_per_bar: float, kind: str) -> None:
    """Make run ``run_id`` an entry of ``window_set`` with its per-bar Sharpe (tags)."""
    values = {
        tags.LEDGER_WINDOW_SET: window_set,
        tags.LEDGER_SHARPE: repr(float(sharpe_per_bar)),
        tags.LEDGER_KIND: kind,
    }
    client = MlflowClient()
    try:
        for key, value in values.items():
            client.set_tag(run_id, key, value)
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0]
        raise BtcrlError(f"cannot record run {run_id} in the trial ledger: {first}") from None


def ledger_entries(window_set: str) -> list[LedgerEntry]:
    """Every entry of ``window_set`` in the tracking store (every experiment), oldest first.

    Raises BtcrlError naming the key when the store cannot be searched."""
    client = MlflowClient()
    query = f"tags.`{tags.LEDGER_WINDOW_SET}` = '{window_set}'"
    found: list[LedgerEntry] = []
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        token = None
        while True:
            page = client.search_runs(
                experiments,
                filter_string=query,
                max_results=PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            found += [_entry(run.info.run_id, run.data.tags) for run in page]
            token = page.token
            if not token:
                break
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0]
        raise BtcrlError(
            f"cannot read the trial ledger of window set {window_set}: {first}"
        ) from None
    return found


def _entry(run_id: str, run_tags: dict[str, str]) -> LedgerEntry:
    try:
        sharpe = float(run_tags.get(tags.LEDGER_SHARPE, "nan"))
    except ValueError:
        sharpe = math.nan
    return LedgerEntry(
        run_id, run_tags.get(tags.RUN_NAME, ""), run_tags.get(tags.LEDGER_KIND, ""), sharpe
    )


def evaluations_logged(run_id: str, metric: str) -> int:
    """How many values of ``metric`` run ``run_id`` logged (its metric history): for a train
    run's ``val/*`` metric, the checkpoints it evaluated on the validation span. 0 when the
    run or the metric cannot be read."""
    try:
        return len(MlflowClient().get_metric_history(run_id, metric))
    except MlflowException as exc:
        log.warning("cannot read %s of run %s: %s", metric, run_id, exc)
        return 0
