"""Registry roles in a real store: a version holds one role alias; promotion moves it."""

from mlflow.tracking import MlflowClient

from btcrl.tracking.aliases import (
    CANDIDATE,
    CHALLENGER,
    CHAMPION,
    alias_version,
    set_alias,
)


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
