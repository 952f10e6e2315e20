"""A model trained with HMM, fracdiff and ETH context features backtests a later period with
its stored fitted params: the same values, and no fit is ever called by the backtest."""

from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from btcrl.config import load_config
from btcrl.features import fitted as fitted_module

ETH = Path(__file__).resolve().parents[1] / "data" / "eth_usd_1h_extract.csv"


def _config(home: Path, *extra: str):
    return load_config(
        None,
        [
            f"data.data_dir={home / 'data'}",
            f"tracking.uri=sqlite:///{home / 'mlruns' / 'mlflow.db'}",
            "features.hmm.enabled=true",
            "features.fracdiff.enabled=true",
            f"features.context=[{{source: 'csv:{ETH}', symbol: ETH/USDT}}]",
            "backtest.plots=false",
            *extra,
        ],
    )


@pytest.mark.slow
def test_trained_model_backtests_with_its_own_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from btcrl.agents import run_training
    from btcrl.backtest import run_backtest
    from btcrl.backtest.plan import prepare
    from btcrl.policy import load_policy

    (tmp_path / "mlruns").mkdir()
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    train = _config(
        tmp_path,
        "data.start=2023-10-01",
        "data.end=2023-12-15",
        "train.total_timesteps=128",
        "train.n_envs=2",
        "train.eval_every=128",
        "agent.n_steps=64",
        "agent.batch_size=64",
        "agent.n_epochs=1",
        "env.episode_length=64",
        "train.system_metrics=false",
    )
    result = run_training(train)
    spec = load_policy(result.model_uri).spec
    assert [p.name for p in spec.fitted] == ["hmm", "fracdiff"]
    assert "eth_corr" in spec.feature_names and "hmm_p3" in spec.feature_names
    # fitted on the train split only: it ends at or before the last train bar
    tags = mlflow.get_run(result.run_id).data.tags
    for params in spec.fitted:
        assert pd.Timestamp(params.fit_end) <= pd.Timestamp(tags["btcrl.train_end"])
        assert pd.Timestamp(params.fit_end) < pd.Timestamp(tags["btcrl.val_start"])

    def refit(*_: object) -> dict:
        raise AssertionError("the backtest refitted a feature")

    for name, feature in fitted_module.FITTED.items():
        monkeypatch.setitem(fitted_module.FITTED, name, replace(feature, fit=refit))
    later = _config(tmp_path, "data.start=2024-01-01", "data.end=2024-01-31")
    plan = prepare(later, model_uri=result.model_uri)
    assert plan.features.spec.fitted == spec.fitted  # the same values, field by field
    assert [p.values for p in plan.features.spec.fitted] == [p.values for p in spec.fitted]
    backtest = run_backtest(later, model_uri=result.model_uri)
    assert backtest.run_id
