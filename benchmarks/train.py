"""Training throughput: SB3's default PPO on DummyVecEnv(TradingEnv) vs btcrl's default recipe.

Both train PPO with an MlpPolicy [64, 64] on the bundled sample's default features (train
span), in one process on the same cores. The baseline is how people usually run SB3: one
TradingEnv in a DummyVecEnv and PPO's defaults (n_steps=2048, batch_size=64, n_epochs=10).
btcrl's recipe is the shipped default config (BatchTradingEnv with ``train.n_envs`` envs,
``agent.n_steps`` / ``batch_size`` / ``n_epochs``, ``train.torch_threads``). Collection
(env steps + policy forward) and gradient (``model.train``) time are measured separately.

    .venv/bin/python benchmarks/train.py [--baseline-steps 8192] [--btcrl-steps 200000]
"""

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from btcrl.agents.algos import build_model, seed_training
from btcrl.agents.split import split_feature_set
from btcrl.config import ExperimentConfig, FeaturesConfig, with_overrides
from btcrl.env import BatchTradingEnv, TradingEnv
from btcrl.features import load_feature_set
from btcrl.jobs.processes import set_torch_threads


@dataclass
class Timing:
    name: str
    steps: int
    wall: float
    gradient: float

    @property
    def collection(self) -> float:
        return self.wall - self.gradient

    @property
    def rate(self) -> float:
        return self.steps / self.wall


def timed_learn(name: str, model: PPO, steps: int) -> Timing:
    """``model.learn(steps)`` with the time spent in ``model.train`` (gradient) recorded."""
    spent = [0.0]
    train = model.train

    def timed_train() -> None:
        start = time.perf_counter()
        train()
        spent[0] += time.perf_counter() - start

    model.train = timed_train  # type: ignore[method-assign]
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=True)
    wall = time.perf_counter() - start
    return Timing(name, int(model.num_timesteps), wall, spent[0])


def warm(make: Callable[[], PPO]) -> None:
    """Compile numba kernels and fill caches once, outside the timed runs."""
    model = make()
    model.learn(model.n_steps * model.n_envs, reset_num_timesteps=True)


def sb3_default(config: ExperimentConfig, train: Any, threads: int) -> PPO:
    torch.set_num_threads(threads)
    env = DummyVecEnv([lambda: TradingEnv(train, config.env, mode="train", seed=config.seed)])
    return PPO("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0)


def btcrl_recipe(config: ExperimentConfig, train: Any) -> PPO:
    set_torch_threads(config.train.torch_threads)
    seed_training(config.seed, "cpu")
    env = BatchTradingEnv(train, config.env, config.train.n_envs, config.seed, "train")
    return build_model(config.agent, env, config.seed, "cpu")  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-steps", type=int, default=8192)
    parser.add_argument("--btcrl-steps", type=int, default=200_000)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="override the btcrl recipe, e.g. --set agent.n_epochs=2",
    )
    args = parser.parse_args()

    config = with_overrides(ExperimentConfig(), {"data.data_dir": str(args.data_dir)})
    for item in args.overrides:
        key, _, value = item.partition("=")
        import yaml

        config = with_overrides(config, {key: yaml.safe_load(value)})
    features = load_feature_set(config.data, FeaturesConfig())
    train = split_feature_set(features, config.train.split_ratio, config.train.train_end).train
    default_threads = torch.get_num_threads()

    warm(lambda: btcrl_recipe(config, train))
    recipe = timed_learn("btcrl default", btcrl_recipe(config, train), args.btcrl_steps)
    # SB3 as people run it (torch's default threads) and with one thread, which is faster on
    # busy cores; the ratio is taken against the faster of the two
    baselines = [
        timed_learn(f"sb3 default/{n}t", sb3_default(config, train, n), args.baseline_steps)
        for n in dict.fromkeys((default_threads, 1))
    ]
    baseline = max(baselines, key=lambda t: t.rate)

    agent, run = config.agent, config.train
    print(
        f"features: {len(features)} bars x {features.spec.observation_size} obs; torch threads: "
        f"default {default_threads}, btcrl recipe {run.torch_threads or 'torch default'}"
    )
    print(
        f"btcrl recipe: n_envs={run.n_envs} n_steps={agent.n_steps} "
        f"batch_size={agent.batch_size} n_epochs={agent.n_epochs} net_arch={list(agent.net_arch)}"
    )
    header = f"{'setup':<16} {'env-steps':>10} {'wall s':>8} {'collect s':>10} {'grad s':>8} "
    print(header + f"{'grad %':>7} {'steps/s':>9} {'ratio':>7}")
    for t in (*baselines, recipe):
        print(
            f"{t.name:<16} {t.steps:>10,} {t.wall:>8.2f} {t.collection:>10.2f} {t.gradient:>8.2f} "
            f"{100 * t.gradient / t.wall:>6.1f}% {t.rate:>9,.0f} {t.rate / baseline.rate:>6.1f}x"
        )
    print(
        f"RESULT sb3_default_steps_per_s={baseline.rate:.0f} "
        f"sb3_default_torch_threads={baseline.name.split('/')[-1].rstrip('t')} "
        f"btcrl_steps_per_s={recipe.rate:.0f} "
        f"speedup={recipe.rate / baseline.rate:.2f} "
        f"sb3_grad_frac={baseline.gradient / baseline.wall:.3f} "
        f"btcrl_grad_frac={recipe.gradient / recipe.wall:.3f}"
    )


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    main()
