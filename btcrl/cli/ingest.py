"""`btcrl ingest`: candles into the store, validated, recorded as an MLflow run."""

import logging
from pathlib import Path
from typing import Any

import click

from btcrl.cli.common import (
    build_experiment_config,
    config_options,
    data_options,
    handle_errors,
    progress_bar,
)
from btcrl.config import DataConfig, ExperimentConfig
from btcrl.config.redact import redact_tree
from btcrl.data import IngestResult, ingest_candles
from btcrl.features import FeatureSet, feature_stats, load_feature_set

log = logging.getLogger(__name__)

EXPERIMENT = "btcrl-ingest"
#: gap ranges the summary lists; the rest are counted (all are in the store's manifest)
GAPS_SHOWN = 5


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@click.option(
    "--no-features",
    is_flag=True,
    default=False,
    help="Only ingest candles; skip computing and caching the features afterwards.",
)
@handle_errors
def ingest(
    config_path: Path | None, overrides: tuple[str, ...], no_features: bool, **options: object
) -> None:
    """Fetch or import candles into the store, validate them and log an MLflow run.

    Sources: the bundled sample (default, offline), any ccxt exchange (only missing ranges
    are fetched) or a CSV file (--source csv:PATH). Prints rows, gaps and the store path.
    """
    config = build_experiment_config(config_path, overrides, options)
    if config.tracking.enabled:
        result, features, run_id = _ingest_tracked(config, with_features=not no_features)
    else:
        with progress_bar(config.data.symbol, "bar") as bar:
            result, run_id = ingest_candles(config.data, progress=bar), None
        features = None if no_features else load_feature_set(config.data, config.features)
    click.echo(_summary(config.data, result, run_id))
    if features is not None:
        spec = features.spec
        click.echo(
            f"features: {len(spec.feature_names)} columns x {len(features):,} bars "
            f"(spec {spec.spec_hash}, first valid row {features.first_valid}), cached"
        )


def _ingest_tracked(
    config: ExperimentConfig, with_features: bool
) -> tuple[IngestResult, FeatureSet | None, str]:
    """Ingest inside a run of experiment ``btcrl-ingest`` with params, metrics, artifacts;
    then (unless skipped) build and cache the features, logging their spec and column stats."""
    from btcrl.tracking import (
        configure_tracking,
        log_dict,
        log_metrics,
        log_params,
        log_text,
        set_tags,
        start_run,
        tags,
    )

    data = config.data
    configure_tracking(config.tracking)
    run_name = f"ingest {data.source if data.source != 'ccxt' else data.exchange} {data.symbol}"
    with start_run(experiment=EXPERIMENT, stage="ingest", run_name=run_name) as run:
        log_params(_params(data))  # keeps what `mlflow run` logged itself
        with progress_bar(data.symbol, "bar") as bar:
            result = ingest_candles(data, progress=bar)
        set_tags({tags.DATA_HASH: result.manifest.content_hash})
        log_metrics(
            {
                "rows": result.rows,
                "gaps": result.gaps,
                "missing_bars": result.missing_bars,
                "new_rows": result.new_rows,
                "requests": result.requests,
                "seconds": result.seconds,
                "written": float(result.written),
            }
        )
        log_dict(_manifest_dict(result), "manifest.json")
        log_dict(_report_dict(result), "validation_report.json")
        features = None
        if with_features:
            features = load_feature_set(config.data, config.features)
            log_text(features.spec.to_json(), "feature_spec.json")
            stats = feature_stats(features)  # per column: feature_stats.json, not 179 metrics
            log_dict(stats, "feature_stats.json")
            nan = sum(v for k, v in stats.items() if k.endswith(".nan"))
            totals = {"rows": stats["rows"], "first_valid": stats["first_valid"], "nan": nan}
            log_metrics({f"features/{k}": v for k, v in totals.items()})
            set_tags({tags.FEATURE_SPEC_HASH: features.spec.spec_hash})
        return result, features, run.info.run_id


def _params(data: DataConfig) -> dict[str, str]:
    """The headline params plus the whole data section flattened (``data.*``)."""
    params = {
        "source": data.source,
        "exchange": data.exchange,
        "symbol": data.symbol,
        "timeframe": data.timeframe,
        "range": f"{data.start or 'start'}..{data.end or 'end'}",
    }
    for key, value in redact_tree(data.model_dump(mode="json")).items():
        params[f"data.{key}"] = str(value)
    return params


def _manifest_dict(result: IngestResult) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(result.manifest)


def _report_dict(result: IngestResult) -> dict[str, object]:
    if result.report is not None:
        return result.report.to_dict()
    return {
        "status": "nothing new to validate: the store already held the requested range",
        "gaps": result.gaps,
        "missing_bars": result.missing_bars,
        "gap_ranges": result.manifest.gaps,
    }


def _summary(data: DataConfig, result: IngestResult, run_id: str | None) -> str:
    gaps = f"{result.gaps} gap{'s' if result.gaps != 1 else ''}"
    missing = f"{result.missing_bars} missing bar{'s' if result.missing_bars != 1 else ''}"
    state = "written" if result.written else "unchanged"
    manifest = result.manifest
    lines = [
        f"{result.key}: {result.rows:,} rows ({result.new_rows:,} new), {gaps} / {missing}, "
        f"{manifest.first_bar} .. {manifest.last_bar}, {result.requests} requests, "
        f"{result.seconds:.2f}s",
        f"store: {result.path} ({state})",
    ]
    lines += _gap_lines(manifest.gaps, result.path.with_suffix(".manifest.json"))
    if result.report is not None:
        lines.append(f"validation: {result.report.findings()}")
        if result.report.time_column:
            lines.append(f"time column: {result.report.time_column}")
    if run_id:
        lines.append(f"mlflow run: {run_id} (experiment {EXPERIMENT})")
    return "\n".join(lines)


def _gap_lines(gaps: list[dict[str, Any]], manifest: Path) -> list[str]:
    """The first :data:`GAPS_SHOWN` gap ranges (first and last missing bar open, bars), then
    how many more there are and the ``manifest`` file that lists all of them."""
    if not gaps:
        return []
    lines = [
        f"gap: {gap['start']} .. {gap['end']} ({gap['bars']} bar{'s' if gap['bars'] != 1 else ''})"
        for gap in gaps[:GAPS_SHOWN]
    ]
    if len(gaps) > GAPS_SHOWN:
        lines.append(f"... and {len(gaps) - GAPS_SHOWN} more gaps (all {len(gaps)} in {manifest})")
    return lines
