"""Same config, data and seed on CPU -> bit-identical final weights; resume continues a run."""

from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from btcrl.agents import run_training
from btcrl.agents.resume import resume_config
from btcrl.config import with_overrides
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSet


def _weights(run_id: str, dst: Path) -> dict[str, torch.Tensor]:
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="actor.pt", dst_path=str(dst / run_id)
    )
    return torch.load(path)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_same_seed_gives_bit_identical_weights(
    algo: str,
    tiny,
    sine_features: FeatureSet,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    config = tiny(**{"agent.algo": algo, "train.keep": "last", "train.register_model": False})
    first = run_training(config, features=sine_features)
    second = run_training(config, features=sine_features)
    other = run_training(with_overrides(config, {"seed": 7}), features=sine_features)
    a, b, c = (_weights(r.run_id, tmp_path) for r in (first, second, other))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert first.metrics == second.metrics
    assert any(not torch.equal(a[name], c[name]) for name in a)


def test_resume_continues_the_step_counter_in_a_linked_run(
    tiny,
    sine_features: FeatureSet,  # noqa: ANN001
) -> None:
    old = run_training(tiny(), features=sine_features)
    config = with_overrides(
        resume_config(old.run_id),
        {"train.resume": old.run_id, "train.total_timesteps": 1024},
    )
    new = run_training(config, features=sine_features)
    client = MlflowClient()
    run = client.get_run(new.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["btcrl.resumed_from"] == old.run_id
    old_steps = [m.step for m in client.get_metric_history(old.run_id, "val/sharpe")]
    new_steps = [m.step for m in client.get_metric_history(new.run_id, "val/sharpe")]
    assert old_steps[-1] == 2048 and new_steps == [3072]
    assert min(m.step for m in client.get_metric_history(new.run_id, "time/fps")) > 2048
    assert new.model_version == 2


def test_resume_needs_a_btcrl_run(tiny, sine_features: FeatureSet) -> None:  # noqa: ANN001
    with pytest.raises(BtcrlError, match="not found"):
        run_training(tiny(**{"train.resume": "0123abcd"}), features=sine_features)
    assert mlflow.search_runs(experiment_names=["btcrl-train"], output_format="list") == []
