"""Writers of the backtest's files: steps.csv, trades.csv, summary.json, metrics.json (the
report's figures: ``btcrl.backtest.plots``).

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

SUMMARY_VERSION = 3  # 2: in_sample, activity; no notes. 3: before_costs, carry
REPORT = "report.html"
FILES = (
    "steps.csv",
    "trades.csv",
    "summary.json",
    "metrics.json",
    "config.yaml",
    "feature_spec.json",
)
ACTIVITY_KEYS = ("round_trips", "open_round_trips", "fills", "turnover", "fees", "fees_pct")


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


def summary(plan: Any, metrics: dict[str, Any], n_steps: int, config: Any) -> dict[str, Any]:
    """The one-page answer: what ran on which bars, whether they were out of sample, its
    trading activity, and how it did against buy-and-hold (docs/backtest.md)."""
    perf, results = metrics["performance"], metrics["results"]
    activity = metrics["activity"]["strategy"]
    return {
        "version": SUMMARY_VERSION,
        "label": plan.label,
        "in_sample": plan.in_sample,
        "in_sample_spans": [o.describe() for o in plan.overlaps],
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
            "steps": n_steps,
        },
        "mark_to_market": {
            "final_equity": results["strategy"]["final_equity"],
            "total_return": perf["strategy"]["total_return"],
            "sharpe": perf["strategy"]["sharpe"],
            "max_drawdown": perf["strategy"]["max_drawdown"],
            "unrealised_pnl": results["strategy"]["unrealised_pnl"],
        },
        "activity": {key: activity[key] for key in ACTIVITY_KEYS},
        "realised": {
            "pnl": results["strategy"]["realised_pnl"],
            "fees": results["strategy"]["fees"],
            "slippage_cost": results["strategy"]["slippage_cost"],
            "borrow_cost": results["strategy"]["borrow_cost"],
        },
        "before_costs": {
            "pnl": results["strategy"]["pnl_before_costs"],
            "total_return": results["strategy"]["return_before_costs"],
            "costs": results["strategy"]["costs"],
        },
        "buy_and_hold": {
            "final_equity": results["buy_and_hold"]["final_equity"],
            "total_return": perf["buy_and_hold"]["total_return"],
            "sharpe": perf["buy_and_hold"]["sharpe"],
            "max_drawdown": perf["buy_and_hold"]["max_drawdown"],
            "excess_sharpe": perf["excess"]["excess_sharpe"],
            "excess_psr": perf["excess"]["excess_psr"],
        },
        "prior": _prior_summary(metrics.get("prior")),
        "excess_return": perf["excess"]["excess_return"],
        "force_close": config.backtest.force_close,
        "warnings": list(plan.warnings),
        "files": [*FILES, *((REPORT,) if config.backtest.plots else ())],
    }


def _prior_summary(prior: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trend_voltarget prior's figures over the same bars and the excess over it."""
    if prior is None:
        return None
    perf = prior["performance"]
    return {
        **{key: perf[key] for key in ("total_return", "sharpe", "max_drawdown")},
        **prior["excess"],
    }


def _comparison_lines(summary: dict[str, Any]) -> list[str]:
    """Buy-and-hold's and the prior's figures beside the strategy's, and the excess over
    each (return difference, annualised Sharpe of the per-bar excess and its PSR)."""
    bh = summary["buy_and_hold"]
    lines = [
        f"  buy and hold: total return {bh['total_return']:+.2%}  sharpe (annualised) "
        f"{bh['sharpe']:.2f}  "
        f"max drawdown {bh['max_drawdown']:.2%};  excess: sharpe (annualised) "
        f"{bh['excess_sharpe']:.2f} "
        f"(PSR {bh['excess_psr']:.2f})"
    ]
    prior = summary.get("prior")
    if prior:
        lines.append(
            f"  prior trend_voltarget: total return {prior['total_return']:+.2%}  sharpe "
            f"(annualised) {prior['sharpe']:.2f}  max drawdown {prior['max_drawdown']:.2%};  "
            f"excess {prior['excess_return']:+.2%}, sharpe (annualised) "
            f"{prior['excess_sharpe']:.2f} "
            f"(PSR {prior['excess_psr']:.2f})"
        )
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the few lines a terminal (and the top of report.html) shows: period,
    in-sample warning, returns against buy-and-hold, risk, the trading activity, and the
    return before costs with the costs that separate it from the return."""
    period, mtm, act = summary["period"], summary["mark_to_market"], summary["activity"]
    bh, pre, real = summary["buy_and_hold"], summary["before_costs"], summary["realised"]
    lines = [f"backtest {summary['label']}: {period['first_bar']} .. {period['last_bar']}"]
    alert = in_sample_line(summary)
    if alert:
        lines.append(f"  {alert}")
    opened = int(act["open_round_trips"])
    lines += [
        f"  total return {mtm['total_return']:+.2%}  (buy and hold {bh['total_return']:+.2%}, "
        f"excess {summary['excess_return']:+.2%})",
        f"  sharpe (annualised) {mtm['sharpe']:.2f}  max drawdown {mtm['max_drawdown']:.2%}",
        f"  round trips {int(act['round_trips'])}{f' (+{opened} open)' if opened else ''}  "
        f"fills {int(act['fills'])}  turnover {act['turnover']:.1f}x  "
        f"fees {act['fees']:,.2f} USD ({act['fees_pct']:.2%} of capital)",
        f"  return before costs {pre['total_return']:+.2%}  costs {pre['costs']:,.2f} USD = fees "
        f"{real['fees']:,.2f} + slippage {real['slippage_cost']:,.2f} + carry "
        f"{real['borrow_cost']:,.2f}",
        *_comparison_lines(summary),
    ]
    return lines


def in_sample_line(summary: dict[str, Any]) -> str | None:
    """The warning an in-sample backtest carries everywhere (None when out of sample)."""
    if not summary["in_sample"]:
        return None
    spans = "; ".join(summary["in_sample_spans"])
    return f"IN-SAMPLE: the period overlaps the model's {spans}; not out of sample"


def report_lines(summary: dict[str, Any]) -> list[str]:
    """The plain lines report.html shows above its figures (:func:`summary_lines` without the
    title and the in-sample warning, which the report shows apart)."""
    alert = in_sample_line(summary)
    return [line.strip() for line in summary_lines(summary)[1:] if line.strip() != alert]


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
