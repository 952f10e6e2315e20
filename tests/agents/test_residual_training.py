"""Residual agents end to end: PPO, SAC and TQC train in the residual action mode around the
prior, validate beside it, and a backtest of the registered model rebuilds the prior's
column from the model's own config."""

from pathlib import Path

import mlflow
import numpy as np
import pytest

from btcrl.agents import run_training
from btcrl.config import DataConfig, with_overrides
from btcrl.features import load_feature_set

RESIDUAL = {"env.action_mode": "residual", "features.prior.enabled": True}


@pytest.mark.parametrize(
    "algo",
    [
        "ppo",
        pytest.param("sac", marks=pytest.mark.slow),
        pytest.param("tqc", marks=pytest.mark.slow),
    ],
)
def test_residual_agent_trains_validates_and_backtests(
    algo: str,
    tiny,
    sample_data_dir: Path,  # noqa: ANN001
) -> None:
    config = tiny(**RESIDUAL, **{"agent.algo": algo, "data.data_dir": str(sample_data_dir)})
    data = DataConfig(data_dir=sample_data_dir, start="2025-01-01")
    features = load_feature_set(data, config.features)
    assert "prior_exposure" in features.spec.feature_names
    live = features.features[:, features.spec.feature_names.index("prior_exposure")]
    assert live.max() > 0  # the 200-day warm-up came from before 2025 in the store
    result = run_training(config, features=features)
    m = result.metrics
    assert m["val/fills"] > 0  # a fresh residual agent trades like the prior
    assert np.isfinite(m["val/prior_total_return"]) and np.isfinite(m["val/excess_prior_sharpe"])
    assert 0.0 <= m["val/excess_prior_psr"] <= 1.0 and 0.0 <= m["val/excess_psr"] <= 1.0
    # the agent is the prior plus at most 0.25 of equity: it stays close to it
    assert abs(m["val/excess_prior_return"]) < 0.25
    pyfunc = mlflow.pyfunc.load_model(result.model_uri)
    assert pyfunc.metadata.get_input_schema() is not None
    if algo != "ppo":
        return
    from btcrl.backtest import run_backtest

    bt = with_overrides(
        config,
        {"backtest.start": "2025-03-01", "backtest.end": "2025-03-31", "backtest.plots": False},
    )
    out = run_backtest(bt, model_uri=result.model_uri)
    assert out.metrics["prior"]["performance"]["total_return"] == pytest.approx(
        out.summary["prior"]["total_return"]
    )
    assert out.summary["activity"]["fills"] > 0
