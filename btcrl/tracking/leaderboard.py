"""Which run is best: the deciding columns of an experiment's runs, best first, for
``btcrl runs``, and the same columns and sort as a shared view of MLflow's UI.

A run answers "is it worth anything" with the metrics of the span it was judged on, whatever
its stage: a train run with its validation span (``val/*``), a walk-forward segment or a tune
trial with its out-of-sample windows (``oos/*``), a walk-forward parent with its stitched
out-of-sample curve (``stitched/*``), a backtest with its period (no prefix). One column holds
one quantity in one unit; the ``on`` column says which span it comes from.
"""

import json
import math
import time
from dataclasses import dataclass, field

import mlflow
from mlflow.tracking import MlflowClient

from btcrl.errors import BtcrlError
from btcrl.tracking import tags

#: the span a run's metrics describe, by the prefix of its metrics, most decisive first
BASES = (("stitched/", "stitched oos"), ("oos/", "oos"), ("val/", "val"), ("", "backtest"))
#: experiment tag prefix MLflow's UI reads a shared view from (``?viewStateShareKey=KEY``)
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
#: the key of btcrl's shared view in every experiment it opens
VIEW_KEY = "btcrl-leaderboard"
#: its name in the UI's "Views" menu (MLflow 3.18 lists saved views there)
VIEW_NAME = "btcrl: deciding columns, best first"
PRIOR_MARK = "excess_prior"
MAX_RUNS = 5000


@dataclass(frozen=True)
class Column:
    """A deciding column: ``header`` (unit included), the metric name after the span's prefix
    (``names``, first present wins), and how to print it (``%``, ``.2f``, ``int``)."""

    header: str
    names: tuple[str, ...]
    fmt: str


#: the deciding metrics; Sharpe ratios annualised (sqrt of bars per year)
COLUMNS = (
    Column("Sharpe (ann.)", ("sharpe",), ".2f"),
    Column("xs Sharpe vs B&H", ("excess_sharpe",), ".2f"),
    Column("xs return vs B&H", ("excess_return", "alpha"), "%"),
    Column("max DD", ("max_drawdown",), "%"),
    Column("turnover (x)", ("turnover",), ".1f"),
    Column("trades", ("trades", "round_trips", "trade_count"), "int"),
    Column("fills", ("fills",), "int"),
)
SORT_HEADER = COLUMNS[0].header
DSR_KEYS = ("stats/dsr", "selection/dsr")


@dataclass
class Row:
    """One run of the leaderboard; ``values`` by column header (NaN = not measured)."""

    run_id: str
    name: str
    stage: str
    status: str
    basis: str
    values: dict[str, float] = field(default_factory=dict)
    in_sample: str = ""
    model: str = ""

    @property
    def score(self) -> float:
        """The sort key: the run's annualised Sharpe (NaN sorts last)."""
        return self.values.get(SORT_HEADER, math.nan)


@dataclass
class Leaderboard:
    """The rows best first and the headers of the metric columns that any row has."""

    experiment: str
    experiment_id: str
    headers: list[str]
    rows: list[Row]


def _basis(metrics: dict[str, float]) -> tuple[str, str]:
    """(prefix, label) of the most decisive span whose Sharpe the run logged."""
    for prefix, label in BASES:
        if f"{prefix}sharpe" in metrics:
            return prefix, label
    return "", ""


def _prior_columns(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """``xs prior <name>`` for each ``<prefix>*excess_prior*`` metric the run has."""
    out = {}
    for key, value in metrics.items():
        name = key.removeprefix(prefix)
        if key.startswith(prefix) and "/" not in name and PRIOR_MARK in name:
            out[f"xs prior: {name}"] = value
    return out


def _row(run: mlflow.entities.Run, versions: dict[str, str]) -> Row:
    metrics = dict(run.data.metrics)
    run_tags = dict(run.data.tags)
    prefix, label = _basis(metrics)
    values = {}
    for column in COLUMNS:
        found = [metrics[prefix + n] for n in column.names if prefix + n in metrics]
        values[column.header] = found[0] if found else math.nan
    if prefix == "stitched/" and "buy_and_hold/total_return" in metrics:
        excess = metrics["stitched/total_return"] - metrics["buy_and_hold/total_return"]
        values["xs return vs B&H"] = excess
    values.update(_prior_columns(metrics, prefix))
    values["DSR"] = next((metrics[k] for k in DSR_KEYS if k in metrics), math.nan)
    model = ""
    if tags.MODEL_NAME in run_tags:
        model = f"{run_tags[tags.MODEL_NAME]}/{run_tags.get(tags.MODEL_VERSION, '?')}"
    return Row(
        run_id=run.info.run_id,
        name=run_tags.get(tags.RUN_NAME, run.info.run_name or ""),
        stage=run_tags.get(tags.STAGE, ""),
        status=run.info.status,
        basis=label,
        values=values,
        in_sample=run_tags.get(tags.IN_SAMPLE, ""),
        model=model or versions.get(run.info.run_id, ""),
    )


def _registered_versions(client: MlflowClient) -> dict[str, str]:
    """``run id -> NAME/V`` of every registered model version (the latest per run)."""
    out: dict[str, str] = {}
    try:
        found = client.search_model_versions(max_results=10_000)
    except mlflow.exceptions.MlflowException:
        return out
    for version in sorted(found, key=lambda v: int(v.version)):
        if version.run_id:
            out[version.run_id] = f"{version.name}/{version.version}"
    return out


def leaderboard(experiment: str, filter_string: str = "") -> Leaderboard:
    """The runs of ``experiment`` that match ``filter_string`` (MLflow's search syntax, e.g.
    ``tags.`btcrl.algo` = 'sac'``), best annualised Sharpe first, runs without one last.
    BtcrlError naming the experiment or the filter when the store refuses."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise BtcrlError(f"no experiment {experiment!r} in the store; it has: {', '.join(names)}")
    try:
        runs = client.search_runs([found.experiment_id], filter_string, max_results=MAX_RUNS)
    except mlflow.exceptions.MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BtcrlError(f"--filter {filter_string!r} was refused: {first}") from None
    versions = _registered_versions(client)
    rows = [_row(run, versions) for run in runs]
    rows.sort(key=lambda r: (math.isnan(r.score), -r.score if not math.isnan(r.score) else 0.0))
    headers: list[str] = []
    for row in rows:
        for header, value in row.values.items():
            if header not in headers and not math.isnan(value):
                headers.append(header)
    order = [c.header for c in COLUMNS]
    headers.sort(key=lambda h: order.index(h) if h in order else len(order))
    return Leaderboard(experiment, str(found.experiment_id), headers, rows)


def share_view(experiment_id: str) -> str:
    """Save the leaderboard's columns and sort as a saved view of the experiment (the tag
    ``mlflow.sharedViewState.btcrl-leaderboard`` holding MLflow 3.18's envelope ``{name,
    createdAt, updatedAt, state}``), which MLflow's UI opens with
    ``/runs?viewStateShareKey=btcrl-leaderboard`` and lists under "Views"; returns that key.
    The columns are the deciding metrics the experiment's runs logged, sorted by the most
    decisive Sharpe."""
    client = MlflowClient()
    keys: set[str] = set()
    for run in client.search_runs([experiment_id], max_results=200):
        keys.update(run.data.metrics)
    wanted = [
        f"{prefix}{name}"
        for prefix, _ in BASES
        for column in COLUMNS
        for name in column.names
        if prefix or column.header != "fills"
    ]
    judged = tuple(prefix for prefix, _ in BASES if prefix)  # not best/* or train_span/*
    wanted += [
        k for k in sorted(keys) if PRIOR_MARK in k and (k.startswith(judged) or "/" not in k)
    ] + list(DSR_KEYS)
    metrics = [k for k in dict.fromkeys(wanted) if k in keys]
    sort = next((f"{p}sharpe" for p, _ in BASES if f"{p}sharpe" in keys), None)
    state = {
        "searchFilter": "",
        "orderByKey": f"metrics.`{sort}`" if sort else "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": [
            "attributes.`Models`",
            *(f"metrics.`{k}`" for k in metrics),
            f"tags.`{tags.IN_SAMPLE}`",
            f"tags.`{tags.MODEL_VERSION}`",
        ],
        "runsHiddenMode": "SHOW_ALL",
    }
    now = int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    client.set_experiment_tag(experiment_id, SHARED_VIEW_PREFIX + VIEW_KEY, json.dumps(envelope))
    return VIEW_KEY


def ui_link(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs table in MLflow's UI, opened on btcrl's shared view (the
    deciding columns, best first) in the classic view."""
    key = share_view(experiment_id)
    query = f"viewStateShareKey={key}&workflowType=machine_learning"
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"
