"""PPO learning speed at the default recipe: SB3's PPO as shipped against a cheaper
activation, a compiled MLP and SBX's PPO (JAX), same run.

Every variant takes ``configs/default.yaml``'s agent and train settings (PPO, 64 envs,
``n_steps`` 256, batch 4096, 4 epochs, net [64, 64], tanh, one torch / XLA thread):

- ``sb3 tanh``: today's model (the baseline of every ratio);
- ``sb3 relu``: ``agent.activation=relu`` (issue 25: tanh cost as much as every matrix
  multiply together in a profile of ``learn``);
- ``sb3 compiled``: tanh, with the policy's MLP extractor under ``torch.compile`` (inductor;
  compiled during the warm-up, outside the clock);
- ``sbx tanh``: SBX's PPO (``sbx-rl``) with the same hyper-parameters and net (SBX's own
  initialisation: no orthogonal init, separate actor and critic optimisers).

Speed: a BatchTradingEnv over the bundled sample's default features (the default env:
residual actions around the prior) per variant; one rollout and update of warm-up (JAX's and
inductor's compiles), then ``--rounds`` rounds in which each variant in turn (each round
starting with the next one) learns
``--rollouts`` whole rollouts (64 x 256 env-steps and their update), timed: the median
env-steps/s and process CPU ms per 1k env-steps (steadier than wall time on a shared
machine; JAX may overlap its work with env stepping on a second core, which CPU time counts
and wall time does not).

Learning at equal env-steps: the chain of ``tests/agents/test_learning.py`` (a clean sine,
the previous default recipe: long and short, no curriculum, low costs) for ``--learn-steps``
env-steps per seed (``--seeds``), then the final policy's deterministic actions scored over
the validation span (``evaluate_policy``): Sharpe and total return, beside buy-and-hold's.
The learning test asks for a Sharpe at least 1.0 above buy-and-hold's (and above 0).

    .venv/bin/python benchmarks/ppo.py [--rollouts 3] [--rounds 8] [--learn-steps 100000]
                                       [--seeds 0 1]
                                       [--variants sb3_tanh sb3_relu sb3_compiled
                                                   sbx_tanh]

Ends with one RESULT line: each variant's env-steps/s, its ratio against ``sb3 tanh`` in
env-steps/s and in CPU per env-step (``cpu x``: above 1 is cheaper) and its mean validation
Sharpe on the sine.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault(  # one XLA thread for SBX, as one torch thread (before JAX)
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from stable_baselines3.common.base_class import BaseAlgorithm  # noqa: E402

from btcrl.agents.algos import algorithm_kwargs, build_model  # noqa: E402
from btcrl.agents.split import split_feature_set  # noqa: E402
from btcrl.agents.validation import evaluate_policy  # noqa: E402
from btcrl.config import ExperimentConfig, FeaturesConfig, with_overrides  # noqa: E402
from btcrl.config.loader import load_config  # noqa: E402
from btcrl.data.sample import load_sample  # noqa: E402
from btcrl.data.timeframes import periods_per_year  # noqa: E402
from btcrl.env import BatchTradingEnv  # noqa: E402
from btcrl.features import build_feature_set  # noqa: E402
from btcrl.features.spec import FeatureSet  # noqa: E402
from btcrl.policy.act import deterministic_act  # noqa: E402

TESTS = Path(__file__).resolve().parent.parent / "tests" / "agents"
VARIANTS = ("sb3_tanh", "sb3_relu", "sb3_compiled", "sbx_tanh")


@dataclass
class Row:
    """One variant's speed and learning numbers."""

    name: str
    fps: float = float("nan")  # median over the rounds
    cpu_ms_per_k: float = float("nan")  # median over the rounds
    sharpe: list[float] = field(default_factory=list)
    total_return: list[float] = field(default_factory=list)


def make_model(variant: str, config: ExperimentConfig, env: BatchTradingEnv) -> BaseAlgorithm:
    """The variant's PPO on ``env``, seeded with ``config.seed``."""
    agent = config.agent
    if variant == "sbx_tanh":
        import flax.linen as nn
        from sbx import PPO

        kwargs = algorithm_kwargs(agent, env.num_envs)
        kwargs["policy_kwargs"]["activation_fn"] = nn.tanh
        return PPO("MlpPolicy", env, seed=config.seed, verbose=0, **kwargs)  # type: ignore[no-any-return]
    if variant == "sb3_relu":
        agent = agent.model_copy(update={"activation": "relu"})
    model = build_model(agent, env, config.seed, "cpu")
    if variant == "sb3_compiled":
        policy = model.policy
        policy.mlp_extractor = torch.compile(policy.mlp_extractor)  # type: ignore[assignment]
    return model


def measure_speed(
    variants: list[str], config: ExperimentConfig, fs: FeatureSet, rollouts: int, rounds: int
) -> list[Row]:
    """Build every variant and learn one rollout (compiles, first-call costs: off the clock),
    then ``rounds`` times in turn each variant learns ``rollouts`` whole rollouts, timed, each
    round starting one variant later (a load change on a shared machine hits every variant
    alike); the medians."""
    rollout = config.train.n_envs * config.agent.n_steps
    envs = {
        name: BatchTradingEnv(fs, config.env, config.train.n_envs, config.seed) for name in variants
    }
    try:
        models = {name: make_model(name, config, envs[name]) for name in variants}
        for model in models.values():
            model.learn(rollout)
        fps: dict[str, list[float]] = {name: [] for name in variants}
        cpu_ms: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(rounds):
            for name in variants[r % len(variants) :] + variants[: r % len(variants)]:
                model = models[name]
                start, cpu = time.perf_counter(), time.process_time()
                model.learn(rollouts * rollout, reset_num_timesteps=False)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                fps[name].append(rollouts * rollout / wall)
                cpu_ms[name].append(1000.0 * cpu / (rollouts * rollout / 1000.0))
    finally:
        for env in envs.values():
            env.close()
    return [Row(n, float(np.median(fps[n])), float(np.median(cpu_ms[n]))) for n in variants]


def sine_setup() -> tuple[ExperimentConfig, FeatureSet]:
    """tests/agents/test_learning.py's features and config (the previous default recipe)."""
    sys.path.insert(0, str(TESTS))
    from agent_data import sine_candles

    features_config = FeaturesConfig(
        indicators=("macd", "rsi_30"), strategies=(), turbulence={"enabled": False}
    )
    features = build_feature_set(
        sine_candles(), features_config, exchange="synthetic", symbol="SINE/USD", timeframe="1h"
    )
    config = with_overrides(
        ExperimentConfig(),
        {
            "env.allow_short": True,
            "env.action_mode": "absolute",
            "env.borrow_rate_annual": 0.0,
            "train.curriculum": "off",
            "features": features_config.model_dump(mode="json"),
            "env.fee_rate": 0.0002,
            "env.slippage_bps": 0.0,
        },
    )
    return config, features


def measure_learning(
    row: Row, config: ExperimentConfig, features: FeatureSet, steps: int, seeds: list[int]
) -> dict[str, float]:
    """Learn ``steps`` env-steps per seed on the sine's train span; score the final policy
    over its validation span into ``row``; buy-and-hold's metrics."""
    split = split_feature_set(
        features,
        config.train.split_ratio,
        lead_bars=config.env.window,
        history_bars=config.env.vol_window,
    )
    ppy = periods_per_year("1h")
    for seed in seeds:
        seeded = with_overrides(config, {"seed": seed})
        torch.manual_seed(seed)
        env = BatchTradingEnv(split.train, seeded.env, seeded.train.n_envs, seed, "train")
        try:
            model = make_model(row.name, seeded, env)
            model.learn(steps)
        finally:
            env.close()
        metrics = evaluate_policy(split.validation, seeded.env, deterministic_act(model), ppy)
        row.sharpe.append(metrics["val/sharpe"])
        row.total_return.append(metrics["val/total_return"])
    hold: Callable[[np.ndarray], np.ndarray] = lambda obs: np.array(  # noqa: E731
        [[1.0, 1.0]], dtype=np.float32
    )
    return evaluate_policy(split.validation, config.env, hold, ppy)


def report(rows: list[Row], hold: dict[str, float], args: argparse.Namespace) -> None:
    """Table and RESULT line."""
    base = rows[0]
    print(
        f"PPO at the default recipe: median of {args.rounds} rounds of {args.rollouts} "
        f"rollouts per variant; learning: "
        f"{args.learn_steps:,} env-steps on the sine, seeds {args.seeds}; {os.cpu_count()} CPUs"
    )
    print(
        f"{'variant':<13} {'env-steps/s':>11} {'cpu ms/1k':>9} {'x sb3':>6} {'cpu x':>6} "
        f"{'val sharpe':>22} {'val return':>22}"
    )
    for row in rows:
        sharpe = " ".join(f"{v:6.2f}" for v in row.sharpe)
        ret = " ".join(f"{v:6.3f}" for v in row.total_return)
        print(
            f"{row.name:<13} {row.fps:>11,.0f} {row.cpu_ms_per_k:>9.1f} "
            f"{row.fps / base.fps:>6.2f} {base.cpu_ms_per_k / row.cpu_ms_per_k:>6.2f} "
            f"{sharpe:>22} {ret:>22}"
        )
    print(
        f"buy-and-hold: val sharpe {hold['val/sharpe']:.2f}, val return "
        f"{hold['val/total_return']:.3f} (the learning test wants sharpe > "
        f"{max(hold['val/sharpe'], 0.0) + 1.0:.2f})"
    )
    fields: list[str] = []
    for row in rows:
        sharpe = float(np.mean(row.sharpe)) if row.sharpe else float("nan")
        fields += [
            f"{row.name}_fps={row.fps:.0f}",
            f"{row.name}_vs_sb3={row.fps / base.fps:.2f}",
            f"{row.name}_cpu_vs_sb3={base.cpu_ms_per_k / row.cpu_ms_per_k:.2f}",
            f"{row.name}_val_sharpe={sharpe:.2f}",
        ]
    print("RESULT " + " ".join(fields))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=3, help="timed rollouts per round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (medians reported)")
    parser.add_argument("--learn-steps", type=int, default=100_000, help="0: speed only")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args()
    if args.variants[0] != "sb3_tanh":
        args.variants.insert(0, "sb3_tanh")  # the baseline of every ratio
    base = load_config(None)
    torch.set_num_threads(base.train.torch_threads or torch.get_num_threads())
    fs = build_feature_set(
        load_sample(), base.features, exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )
    rows = measure_speed(args.variants, base, fs, args.rollouts, args.rounds)
    hold: dict[str, Any] = {"val/sharpe": float("nan"), "val/total_return": float("nan")}
    if args.learn_steps:
        config, features = sine_setup()
        for row in rows:
            hold = measure_learning(row, config, features, args.learn_steps, args.seeds)
    report(rows, hold, args)


if __name__ == "__main__":
    main()
