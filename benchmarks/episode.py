"""Benchmark: one deterministic 10,000-bar episode of an MLP policy, three ways, same run.

The policy is an untrained SB3 model built from the default agent config (PPO, 64x64 tanh;
``--algo sac`` for SAC) on features of the bundled sample (the default features config);
weights do not change the cost. The episode runs 10,000 steps (bars) in mode ``backtest``:

1. ``compiled``: ``btcrl.policy.episode.run_episode`` with the policy's ``MlpPolicy``,
   i.e. the whole episode in one numba call (``btcrl.env.episode_runner``); the first call
   in the process (numba compiling, or loading its disk cache) is reported apart;
2. ``torch``: the same runner with the torch fallback (``ModelPolicy`` over
   ``DeterministicAct``, SB3's own ``_predict`` without its per-call overhead) stepping
   ``TradingEnv`` bar by bar: what validation ran before, and what non-MLP policies run;
3. ``predict``: ``TradingEnv`` stepped with ``model.predict(obs, deterministic=True)``
   (the baseline).

Times are the best of ``--repeat`` runs (the baselines run once: they take seconds), and the
largest |action| difference of the compiled episode against ``predict`` is printed.

    .venv/bin/python benchmarks/episode.py [--algo ppo|sac] [--bars 10000] [--repeat 5]

Ends with ``RESULT ...``; ``speedup`` is the predict baseline's time over the compiled one.
"""

import argparse
import logging
import time

import numpy as np

GOAL_MS = 50.0


def build(algo: str, bars: int):  # noqa: ANN201
    """(feature set with ``bars`` steps after warm-up, untrained SB3 model)."""
    from btcrl.agents.algos import build_model
    from btcrl.config import AgentConfig, FeaturesConfig
    from btcrl.config.env import EnvConfig
    from btcrl.data.sample import load_sample
    from btcrl.env import BatchTradingEnv
    from btcrl.features import build_feature_set

    fs = build_feature_set(
        load_sample(), FeaturesConfig(), exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )
    if len(fs) - 1 - fs.first_valid < bars:
        raise SystemExit(f"the sample has only {len(fs) - 1 - fs.first_valid} bars after warm-up")
    fs = fs.rows(0, fs.first_valid + bars + 1)
    env = BatchTradingEnv(fs, EnvConfig(), 4, seed=0)
    return fs, build_model(AgentConfig(algo=algo), env, seed=0, device="cpu")


def predict_episode(fs, config, model) -> tuple[float, np.ndarray]:  # noqa: ANN001
    """Seconds and actions of TradingEnv stepped with SB3 predict."""
    from btcrl.env import TradingEnv

    env = TradingEnv(fs, config, mode="backtest")
    t0 = time.perf_counter()
    obs, _ = env.reset()
    actions = []
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return time.perf_counter() - t0, np.array(actions, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", default="ppo", choices=["ppo", "sac"])
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from btcrl.config.env import EnvConfig
    from btcrl.policy.act import deterministic_act
    from btcrl.policy.episode import (
        MlpPolicy,
        backtest_env_config,
        model_policy,
        run_episode,
    )
    from btcrl.policy.policies import ModelPolicy

    fs, model = build(args.algo, args.bars)
    config = backtest_env_config(EnvConfig(), True)
    act = deterministic_act(model)
    policy = model_policy(model.policy, act, name=args.algo)
    if not isinstance(policy, MlpPolicy):
        raise SystemExit(f"{args.algo} did not compile: {type(policy).__name__}")

    t0 = time.perf_counter()
    run_episode(fs, config, policy)
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        compiled = run_episode(fs, config, policy)
        times.append(time.perf_counter() - t0)
    compiled_s = min(times)
    t0 = time.perf_counter()
    run_episode(fs, config, ModelPolicy(act))
    torch_s = time.perf_counter() - t0
    predict_s, predict_actions = predict_episode(fs, config, model)
    gap = float(np.abs(predict_actions - compiled.actions).max())

    steps = compiled.ledger.shape[0]
    print(f"{args.algo} {model.policy.net_arch}, obs {fs.spec.observation_size}, {steps} bars")
    print(f"{'path':<10} {'ms/episode':>11} {'us/bar':>8} {'x predict':>10}")
    for name, seconds in (("compiled", compiled_s), ("torch", torch_s), ("predict", predict_s)):
        print(
            f"{name:<10} {seconds * 1e3:>11.1f} {seconds / steps * 1e6:>8.2f} "
            f"{predict_s / seconds:>10.1f}"
        )
    print(f"first compiled call (compile or cache load): {first_s:.2f} s")
    print(f"max |action - predict|: {gap:.2e}; goal < {GOAL_MS:.0f} ms per 10k bars")
    print(
        f"RESULT algo={args.algo} bars={steps} compiled_ms={compiled_s * 1e3:.1f} "
        f"torch_ms={torch_s * 1e3:.0f} predict_ms={predict_s * 1e3:.0f} "
        f"speedup={predict_s / compiled_s:.0f} first_call_s={first_s:.2f} "
        f"max_action_diff={gap:.1e} goal_met={int(compiled_s * 1e3 < GOAL_MS * steps / 1e4)}"
    )


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
