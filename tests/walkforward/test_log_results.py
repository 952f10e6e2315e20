"""A re-aggregation overwrites every parent metric, non-finite values included."""

import math

from mlflow.tracking import MlflowClient

from btcrl.tracking.walkforward import create_parent_run, log_results


def test_infinite_and_nan_overwrite_earlier_values(tracking_uri: str) -> None:
    run_id = create_parent_run("btcrl-walkforward", "wf-test", {}, {"a": "1"})
    log_results(run_id, {"stats/min_track_record_bars": 22569.2, "stats/psr": 0.7})
    log_results(run_id, {"stats/min_track_record_bars": math.inf, "stats/psr": math.nan})
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert metrics["stats/min_track_record_bars"] == 1.7976931348623157e308  # MLflow's +inf
    assert math.isnan(metrics["stats/psr"])
