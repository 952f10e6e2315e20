"""Registry roles in a real store: a version holds one role alias; promotion moves it."""

import mlflow
from mlflow.tracking import MlflowClient

from btcrl.tracking.aliases import CHALLENGER, CHAMPION, alias_version, set_alias

CANDIDATE = "candidate"  # the latest trained version: not a role, it stays


def test_a_promoted_challenger_is_no_longer_the_challenger(tracking_uri: str) -> None:
    client = MlflowClient()
    client.create_registered_model("btcrl-wf-ppo")
    for _ in range(3):
        client.create_model_version("btcrl-wf-ppo", "file:///nowhere")
    set_alias("btcrl-wf-ppo", CHAMPION, 1)
    set_alias("btcrl-wf-ppo", CANDIDATE, 2)
    set_alias("btcrl-wf-ppo", CHALLENGER, 2)
    assert alias_version("btcrl-wf-ppo", CHAMPION) == 1  # another version's role stays
    set_alias("btcrl-wf-ppo", CHAMPION, 2)  # the gate promotes version 2
    aliases = client.get_model_version("btcrl-wf-ppo", "2").aliases
    assert sorted(aliases) == [CANDIDATE, CHAMPION]  # candidate is not a role: it stays
    assert alias_version("btcrl-wf-ppo", CHALLENGER) is None
    set_alias("btcrl-wf-ppo", CHALLENGER, 3)
    assert sorted(client.get_model_version("btcrl-wf-ppo", "2").aliases) == [CANDIDATE, CHAMPION]


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201, ARG002
        return model_input


def test_backtest_metrics_are_linked_to_the_version_they_tested(tracking_uri: str) -> None:
    from btcrl.tracking import ensure_experiment, start_run
    from btcrl.tracking.models import log_version_metrics

    ensure_experiment("btcrl-train")
    with start_run("btcrl-train", "train"):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Constant(), registered_model_name="btcrl-ppo"
        )
    with start_run("btcrl-backtest", "backtest") as run:
        assert log_version_metrics({"sharpe": 1.25, "bad": float("nan")}, "btcrl-ppo", 1)
    found = MlflowClient().get_run(run.info.run_id)
    assert found.data.metrics == {"sharpe": 1.25}  # still the run's metric (btcrl runs)
    assert found.data.tags["btcrl.model_id"] == info.model_id
    model = MlflowClient().get_logged_model(info.model_id)
    assert [(m.key, m.value, m.run_id) for m in model.metrics] == [
        ("sharpe", 1.25, run.info.run_id)
    ]
