"""Writers of the backtest's files: steps.csv, trades.csv, summary.json, metrics.json.

Files are written into a fresh temporary directory first; only a complete directory is
logged to MLflow or moved to ``backtest.output_dir`` (by rename), so a failure never leaves
a half-written result where a finished one is expected.
"""

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from btcrl.backtest.report import json_safe

SUMMARY_VERSION = 1


def write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    """CSV with full float precision (shortest round-trip repr); times as ISO 8601 UTC
    (``2024-10-01T13:00:00Z``)."""
    data = frame.reset_index() if index else frame.copy()
    for name in data.columns:
        column = data[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or column.dtype.kind == "M":
            values = pd.DatetimeIndex(column)
            if values.tz is not None:
                values = values.tz_convert("UTC").tz_localize(None)
            text = np.datetime_as_string(values.to_numpy("datetime64[s]"), unit="s")
            data[name] = np.char.add(text.astype(str), "Z")
    table = pa.Table.from_pandas(data, preserve_index=False)
    pacsv.write_csv(table, str(path))


def write_tables(out: Path, steps: pd.DataFrame, trades: pd.DataFrame) -> None:
    """``steps.csv`` (one row per step) and ``trades.csv`` (one row per trade)."""
    write_csv(steps, out / "steps.csv")
    write_csv(trades, out / "trades.csv", index=False)


def write_json(path: Path, value: Any) -> None:
    """Pretty JSON; non-finite numbers become null."""
    path.write_text(json.dumps(json_safe(value), indent=2, sort_keys=False, default=str) + "\n")


def summary(
    plan: Any, metrics: dict[str, Any], steps: pd.DataFrame, trades: pd.DataFrame, config: Any
) -> dict[str, Any]:
    """The one-page answer: what ran on which bars, and how it did against buy-and-hold."""
    perf = metrics["performance"]
    results = metrics["results"]
    return {
        "version": SUMMARY_VERSION,
        "label": plan.label,
        "model_uri": plan.model_uri,
        "model_name": plan.model_name,
        "model_version": plan.model_version,
        "model_alias": plan.model_alias,
        "source_run_id": plan.source_run_id,
        "policy": plan.policy_name,
        "market": {
            "exchange": plan.features.spec.exchange,
            "symbol": plan.features.spec.symbol,
            "timeframe": plan.features.spec.timeframe,
            "data_hash": plan.features.spec.data_hash,
        },
        "period": {
            "first_bar": plan.first_bar.isoformat(),
            "last_bar": plan.last_bar.isoformat(),
            "steps": len(steps),
        },
        "mark_to_market": {
            "final_equity": results["strategy"]["final_equity"],
            "total_return": perf["strategy"]["total_return"],
            "unrealised_pnl": results["strategy"]["unrealised_pnl"],
        },
        "realised": {
            "pnl": results["strategy"]["realised_pnl"],
            "closed_trades": int((~trades["open"].astype(bool)).sum()) if len(trades) else 0,
            "fees": results["strategy"]["fees"],
            "slippage_cost": results["strategy"]["slippage_cost"],
        },
        "buy_and_hold": {
            "final_equity": results["buy_and_hold"]["final_equity"],
            "total_return": perf["buy_and_hold"]["total_return"],
        },
        "excess_return": perf["excess"]["excess_return"],
        "force_close": config.backtest.force_close,
        "overlaps_training": bool(plan.overlaps),
        "warnings": list(plan.warnings),
        "files": [
            "steps.csv",
            "trades.csv",
            "summary.json",
            "metrics.json",
            "config.yaml",
            "feature_spec.json",
            *(f"plots/{n}.html" for n in _plot_names(config)),
        ],
    }


def _plot_names(config: Any) -> tuple[str, ...]:
    from btcrl.backtest.plots import PLOT_NAMES

    return PLOT_NAMES if config.backtest.plots else ()


def move_into_place(src: Path, dest: Path) -> Path:
    """Move the finished directory ``src`` to ``dest``, replacing an older result there.

    The new directory is copied next to ``dest`` under a temporary name and renamed over;
    a previous result is renamed aside first and removed only after the swap.
    """
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    shutil.copytree(src, staging)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        dest.replace(old)
    staging.replace(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest
