"""An SBX policy loaded from its zip is still read as an MLP: its unpickled activation
function has lost its name, so ``mlp_from_sbx_policy`` recognises it by its values (before,
every loaded SBX model stepped Python instead of the compiled episode runner)."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sbx")

from btcrl.agents.algos import build_model  # noqa: E402
from btcrl.config import DataConfig, load_config  # noqa: E402
from btcrl.env import BatchTradingEnv  # noqa: E402
from btcrl.features import load_feature_set  # noqa: E402
from btcrl.policy.algos import load_model  # noqa: E402
from btcrl.policy.sbx_mlp import _activation_id, mlp_from_sbx_policy  # noqa: E402


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_loaded_sbx_actor_is_still_compiled(activation: str, tmp_path: Path) -> None:
    config = load_config(None, [
        "agent.algo=sac", "agent.backend=sbx", "agent.net_arch=[16, 16]", "agent.device=cpu",
        f"agent.activation={activation}", "env.action_mode=absolute",
        "features.prior.enabled=false",
    ])  # fmt: skip
    data = DataConfig(data_dir=tmp_path / "data", start="2024-09-01", end="2024-10-15")
    features = load_feature_set(data, config.features)
    env = BatchTradingEnv(features, config.env, 2, 0)
    model = build_model(config.agent, env, 0, "cpu")
    env.close()
    model.save(tmp_path / "model.zip")
    loaded = load_model("sac", tmp_path / "model.zip", env=None, device="cpu")
    if activation == "tanh":  # jax's tanh comes back as a nameless PjitFunction
        assert getattr(loaded.policy.activation_fn, "__name__", "") == ""
    actor = mlp_from_sbx_policy(loaded.policy)
    assert actor is not None
    obs = np.random.default_rng(0).normal(0, 1, (64, actor.obs_size)).astype(np.float32)
    expected, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_allclose(actor.forward(obs), expected, atol=1e-5)


def test_an_unknown_activation_is_not_guessed() -> None:
    import jax.numpy as jnp

    assert _activation_id(lambda x: jnp.sin(x)) is None
    assert _activation_id(None) is None
