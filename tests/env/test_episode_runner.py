"""The compiled policy episode: SB3's deterministic actions, TradingEnv's ledger, no look-ahead."""

from typing import Any

import numpy as np
import pytest
import torch
from sb3_contrib import TQC
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from btcrl.config.env import EnvConfig
from btcrl.env import BatchTradingEnv, TradingEnv
from btcrl.env.episode_runner import run_compiled_episode, run_planned_episode, tanh32
from btcrl.env.layout import L_CLOSE_QTY, L_EQUITY, L_FILL_QTY, L_STOP_QTY, L_TRUNCATED
from btcrl.env.mlp import IDENTITY, RELU, TANH, MlpActor
from btcrl.errors import CompatibilityError, ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy.sb3_mlp import mlp_from_policy

CONFIG = EnvConfig(episode_length=200, allow_short=True)
ALGOS: dict[str, tuple[type[BaseAlgorithm], dict[str, Any]]] = {
    "ppo": (PPO, {"n_steps": 32, "batch_size": 32}),
    "sac": (SAC, {"learning_starts": 0, "buffer_size": 1000}),
    "tqc": (TQC, {"learning_starts": 0, "buffer_size": 1000}),
}


def tiny_model(
    features: FeatureSet, algo: str, activation: type[torch.nn.Module] = torch.nn.Tanh, **extra: Any
) -> BaseAlgorithm:
    """An untrained 16x16 model whose action head is scaled up so that it trades a lot."""
    cls, kwargs = ALGOS[algo]
    env = BatchTradingEnv(features, CONFIG, 1, seed=0)
    policy_kwargs = {"net_arch": [16, 16], "activation_fn": activation}
    model = cls("MlpPolicy", env, seed=1, policy_kwargs=policy_kwargs, **kwargs, **extra)
    head = model.policy.action_net if algo == "ppo" else model.policy.actor.mu
    if isinstance(head, torch.nn.Linear):  # (gSDE's SAC head is a Sequential)
        with torch.no_grad():
            head.weight.mul_(50.0 if algo == "ppo" else 5.0)
    return model


@pytest.fixture(scope="module")
def models(short_real_features: FeatureSet) -> dict[str, BaseAlgorithm]:
    return {
        "ppo": tiny_model(short_real_features, "ppo"),
        "sac": tiny_model(short_real_features, "sac", torch.nn.ReLU),
        "tqc": tiny_model(short_real_features, "tqc"),
    }


@pytest.mark.parametrize("algo", ["ppo", "sac", "tqc"])
def test_actions_equal_sb3_predict(
    models: dict[str, BaseAlgorithm], short_real_features: FeatureSet, algo: str
) -> None:
    model = models[algo]
    actor = mlp_from_policy(model.policy)
    assert actor is not None
    assert actor.squashed == (algo != "ppo")
    hidden = RELU if algo == "sac" else TANH
    assert actor.activations == (hidden, hidden, IDENTITY)
    obs, actions, ledger = run_compiled_episode(short_real_features, CONFIG, actor)
    assert len(actions) == len(short_real_features) - 1 - short_real_features.first_valid
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(actor.forward(obs), expected, rtol=0, atol=1e-5)
    # the policy is not trivial: it moves the whole range and trades often
    assert actions[:, 0].max() - actions[:, 0].min() > 0.3
    assert np.count_nonzero(ledger[:, L_FILL_QTY]) > 500
    random_obs = np.random.default_rng(2).normal(0, 3, (300, actor.obs_size)).astype(np.float32)
    expected, _ = model.predict(random_obs, deterministic=True)
    np.testing.assert_allclose(actor.forward(random_obs), expected, rtol=0, atol=1e-5)


def _step_env(features: FeatureSet, act: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observations, actions, ledger) stepping TradingEnv with ``act(obs)`` bar by bar."""
    env = TradingEnv(features, CONFIG, mode="eval")
    obs, _ = env.reset()
    seen, taken, rows = [], [], []
    done = False
    while not done:
        action = np.asarray(act(obs), dtype=np.float32)
        seen.append(obs)
        taken.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        rows.append(env.ledger.copy())
        done = terminated or truncated
    return np.array(seen), np.array(taken), np.array(rows)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_ledger_equals_trading_env_stepped_with_predict(
    models: dict[str, BaseAlgorithm], short_real_features: FeatureSet, algo: str
) -> None:
    model = models[algo]
    actor = mlp_from_policy(model.policy)
    assert actor is not None
    obs, actions, ledger = run_compiled_episode(short_real_features, CONFIG, actor)

    # the same actions through TradingEnv: the very same episode, bit for bit
    replay = iter(actions)
    env_obs, _, env_ledger = _step_env(short_real_features, lambda _obs: next(replay))
    np.testing.assert_array_equal(env_obs, obs)
    np.testing.assert_array_equal(env_ledger, ledger)

    # SB3's own predict, action by action (single-row torch sums in another order than the
    # kernel: most actions differ in their last float32 bits, so sizes by ~1e-7 relatively)
    def predict(o: np.ndarray) -> np.ndarray:
        return model.predict(o[None, :], deterministic=True)[0][0]

    _, sb3_actions, sb3_ledger = _step_env(short_real_features, predict)
    assert sb3_ledger.shape == ledger.shape
    np.testing.assert_allclose(sb3_actions, actions, rtol=0, atol=1e-5)
    filled = ledger[:, [L_FILL_QTY, L_STOP_QTY, L_CLOSE_QTY]] != 0.0
    np.testing.assert_array_equal(
        sb3_ledger[:, [L_FILL_QTY, L_STOP_QTY, L_CLOSE_QTY]] != 0.0, filled
    )
    np.testing.assert_allclose(sb3_ledger[:, L_EQUITY], ledger[:, L_EQUITY], rtol=1e-6)


@pytest.mark.parametrize("cut", [200, 1000, 2999])
def test_actions_before_a_row_ignore_every_later_row(
    models: dict[str, BaseAlgorithm], short_real_features: FeatureSet, cut: int
) -> None:
    """Rows >= cut removed: every step observed before them acts and fills the same."""
    actor = mlp_from_policy(models["ppo"].policy)
    assert actor is not None
    config = CONFIG.model_copy(update={"force_close_at_end": False})
    full_obs, full_actions, full_ledger = run_compiled_episode(short_real_features, config, actor)
    obs, actions, ledger = run_compiled_episode(short_real_features.rows(0, cut), config, actor)
    steps = cut - 1 - short_real_features.first_valid
    assert len(actions) == steps
    np.testing.assert_array_equal(obs, full_obs[:steps])
    np.testing.assert_array_equal(actions, full_actions[:steps])
    # only the end of the episode differs (flagged truncated, nothing else without a close)
    assert ledger[-1, L_TRUNCATED] == 1.0
    ledger[-1, L_TRUNCATED] = full_ledger[steps - 1, L_TRUNCATED]
    np.testing.assert_array_equal(ledger, full_ledger[:steps])


def test_planned_actions_replay_the_env(short_real_features: FeatureSet) -> None:
    rng = np.random.default_rng(4)
    n = len(short_real_features)
    planned = np.column_stack(
        [np.repeat(rng.uniform(-1, 1, n // 25 + 1), 25)[:n], rng.uniform(-1, 1, n)]
    ).astype(np.float32)
    obs, actions, ledger = run_planned_episode(short_real_features, CONFIG, planned)
    first = short_real_features.first_valid
    np.testing.assert_array_equal(actions, planned[first : first + len(actions)])
    replay = iter(actions)
    env_obs, _, env_ledger = _step_env(short_real_features, lambda _obs: next(replay))
    np.testing.assert_array_equal(env_obs, obs)
    np.testing.assert_array_equal(env_ledger, ledger)


def test_bankruptcy_ends_the_compiled_episode_like_the_env(
    short_real_features: FeatureSet,
) -> None:
    config = CONFIG.model_copy(update={"leverage_limit": 50.0, "max_position_btc": 1e6})
    planned = np.tile(np.float32([1.0, 1.0]), (len(short_real_features), 1))
    _, actions, ledger = run_planned_episode(short_real_features, config, planned)
    assert len(actions) < len(short_real_features) - 1 - short_real_features.first_valid
    assert ledger[-1, L_EQUITY] <= 0.0 and (ledger[:-1, L_EQUITY] > 0.0).all()


@pytest.mark.parametrize(
    ("algo", "extra", "activation"),
    [
        ("ppo", {"use_sde": True}, torch.nn.Tanh),
        ("sac", {"use_sde": True}, torch.nn.Tanh),
        ("ppo", {}, torch.nn.LeakyReLU),
    ],
)
def test_non_mlp_policies_are_refused(
    short_real_features: FeatureSet, algo: str, extra: dict[str, Any], activation: type
) -> None:
    model = tiny_model(short_real_features, algo, activation, **extra)
    assert mlp_from_policy(model.policy) is None
    assert mlp_from_policy(object()) is None


def test_a_linear_ppo_head_and_wrong_sizes(short_real_features: FeatureSet) -> None:
    env = BatchTradingEnv(short_real_features, CONFIG, 1, seed=0)
    model = PPO("MlpPolicy", env, seed=0, n_steps=32, batch_size=32, policy_kwargs={"net_arch": []})
    actor = mlp_from_policy(model.policy)
    assert actor is not None and len(actor.weights) == 1
    obs = np.random.default_rng(0).normal(0, 1, (20, actor.obs_size)).astype(np.float32)
    np.testing.assert_allclose(
        actor.forward(obs), model.predict(obs, deterministic=True)[0], rtol=0, atol=1e-6
    )
    bounds = np.ones(2, np.float32)
    small = MlpActor((np.zeros((2, 3), np.float32),), (np.zeros(2, np.float32),), (IDENTITY,),
                     False, -bounds, bounds)  # fmt: skip
    with pytest.raises(CompatibilityError, match="policy maps 3 inputs to 2 actions; the fea"):
        run_compiled_episode(short_real_features, CONFIG, small)
    with pytest.raises(ConfigError, match="not train"):
        run_planned_episode(
            short_real_features, CONFIG, np.zeros((len(short_real_features), 2)), mode="train"
        )
    with pytest.raises(ConfigError, match=r"planned actions have shape \(3, 2\)"):
        run_planned_episode(short_real_features, CONFIG, np.zeros((3, 2)))


def test_the_kernels_tanh_is_float32_accurate() -> None:
    grid = np.concatenate([np.linspace(-12.0, 12.0, 4001), [0.0, 1e-30, -1e-7, 50.0, -np.inf]])
    ours = np.array([tanh32(np.float32(x)) for x in grid])
    exact = np.tanh(grid)
    assert np.abs(ours - exact).max() < 5e-7
    np.testing.assert_array_equal(ours[:4001], -ours[:4001][::-1])  # odd
    assert tanh32(np.float32(0.0)) == 0.0 and abs(tanh32(np.float32(np.inf))) <= 1.0
