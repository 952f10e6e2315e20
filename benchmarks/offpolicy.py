"""Off-policy throughput: SAC and TQC at today's defaults vs the shipped recipes, and SBX
(JAX: SAC, TQC, CrossQ) at the recipes' update ratio, same run.

Today's defaults are ``configs/default.yaml`` with ``agent.algo`` set to sac / tqc (64 envs,
one gradient step of batch 256 per vector step, i.e. 1/64 update per transition, 1 torch
thread), measured as they are (``today``) and with the updates in blocks of 4 (``blocked``:
``train_freq=4``, ``gradient_steps=4``, the same 1/64 updates per transition). The recipes are
``configs/recipes/sac.yaml`` and ``configs/recipes/tqc.yaml`` (merged over the defaults as
``btcrl train --config`` does): 16 envs and 4x the updates per transition, so their
env-steps/s are lower by design; updates/s and replay samples/s say how fast they learn.
Each variant trains on a BatchTradingEnv over the bundled sample's default features: a
warm-up past ``learning_starts``, then ``--seconds`` of ``learn``, timed. Reported per
variant: env-steps/s, gradient updates/s, replay samples/s (updates x batch), updates per
transition and the share of wall time in ``model.train`` (gradient steps); ratios are
against ``today``. ``cpu ms/upd`` is process CPU time per gradient update (collection
included), steadier than wall time when other work shares the cores.

The recipes run on SBX (``agent.backend: sbx``, chosen by this benchmark); the ``recipe``
rows run them on SB3, the ``sbx`` rows as shipped, and CrossQ
with the SAC recipe's envs and update ratio (no target networks, batch renormalisation;
SBX's default actor delay of 3). ``x sb3`` is the row's ratio against the SB3 recipe of
its algorithm (CrossQ: against SAC's). JAX runs with one XLA thread, as torch with one.
``--recipes-only`` skips today's rows (shorter runs).

    .venv/bin/python benchmarks/offpolicy.py [--seconds 15] [--profile] [--recipes-only]
                                             [--override agent.batch_size=512 ...]

``--profile`` prints cProfile's top functions for today's SAC. Ends with one RESULT line.

Where the time goes (2 shared cores, Nov 2026): 86-97 % of wall time is in ``model.train``;
an SAC update costs ~5.5-7 ms of CPU at batch 256 (torch per-op overhead of small MLPs:
backward ~20 %, the per-tensor Adam ~13 %, forward, and SB3's train-mode switch once per
``train`` call), a TQC update ~15-18 ms (its quantile Huber loss, which grows with the
batch). Env stepping and replay sampling are a few %. Env-steps/s = updates/s x transitions
per update, so at a given update cost the update-to-data ratio sets the fps. Foreach Adam
measured no gain; two torch threads on a shared machine cut throughput several-fold.
"""

import argparse
import cProfile
import os
import pstats
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault(  # one XLA thread for the SBX rows, as one torch thread (before JAX)
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import torch  # noqa: E402
from stable_baselines3.common.base_class import BaseAlgorithm  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402

from btcrl.agents.algos import build_model  # noqa: E402
from btcrl.config import ExperimentConfig  # noqa: E402
from btcrl.config.loader import load_config  # noqa: E402
from btcrl.data.sample import load_sample  # noqa: E402
from btcrl.env import BatchTradingEnv  # noqa: E402
from btcrl.features import build_feature_set  # noqa: E402
from btcrl.features.spec import FeatureSet  # noqa: E402

RECIPES = Path(__file__).resolve().parent.parent / "configs" / "recipes"


class _Budget(BaseCallback):
    """Stops ``learn`` after ``seconds`` of wall time."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.start = 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        return time.perf_counter() - self.start < self.seconds


@dataclass
class Rate:
    name: str
    steps: int
    updates: int
    batch: int
    wall: float
    gradient: float
    cpu: float  # process CPU seconds (steadier than wall time on a shared machine)

    @property
    def fps(self) -> float:
        return self.steps / self.wall

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.wall


def variants(
    algo: str, overrides: list[str], recipes_only: bool = False
) -> list[tuple[str, ExperimentConfig]]:
    """Today's defaults; the same with updates in blocks of 4 (``train_freq=4``,
    ``gradient_steps=4``: the same 1/64 updates per transition); the recipe (``overrides``
    apply to it) on SB3 and on SBX. ``recipes_only``: the two recipe rows."""
    today = [f"agent.algo={algo}"]
    recipe = RECIPES / f"{algo}.yaml"
    rows = [
        (f"{algo} recipe", load_config(recipe, [*overrides, "agent.backend=sb3"])),
        (f"{algo} sbx", load_config(recipe, [*overrides, "agent.backend=sbx"])),
    ]
    if algo == "sac":
        crossq = ["agent.backend=sbx", "agent.algo=crossq"]
        rows.append(("crossq sbx", load_config(recipe, [*overrides, *crossq])))
    if recipes_only:
        return rows
    return [
        (f"{algo} today", load_config(None, today)),
        (
            f"{algo} blocked",
            load_config(None, [*today, "agent.train_freq=4", "agent.gradient_steps=4"]),
        ),
        *rows,
    ]


def measure(name: str, config: ExperimentConfig, fs: FeatureSet, seconds: float) -> Rate:
    """Warm up past learning_starts, then train ``seconds`` and count steps and updates."""
    torch.set_num_threads(config.train.torch_threads or torch.get_num_threads())
    env = BatchTradingEnv(fs, config.env, config.train.n_envs, config.seed)
    model: BaseAlgorithm = build_model(config.agent, env, config.seed, "cpu")
    # past learning_starts and 4 train calls: SBX compiles its update per CrossQ actor-delay
    # phase (3 variants, seconds each), outside the clock as torch's warm-up is
    model.learn(config.agent.learning_starts + 5 * config.train.n_envs * config.agent.train_freq)
    spent = [0.0]
    train = model.train

    def timed_train(*args: object, **kwargs: object) -> None:
        start = time.perf_counter()
        train(*args, **kwargs)
        spent[0] += time.perf_counter() - start

    model.train = timed_train  # type: ignore[method-assign]
    steps0, updates0 = model.num_timesteps, model._n_updates
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(10**9, callback=_Budget(seconds), reset_num_timesteps=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Rate(
        name,
        model.num_timesteps - steps0,
        model._n_updates - updates0,
        config.agent.off_policy_batch_size,
        wall,
        spent[0],
        cpu,
    )


def profile_today(fs: FeatureSet, seconds: float) -> None:
    """cProfile of today's SAC for ``seconds``: where the time goes."""
    config = load_config(None, ["agent.algo=sac"])
    measure("compile", config, fs, 0.5)  # numba's kernel compiles outside the profile
    profiler = cProfile.Profile()
    profiler.enable()
    measure("profile", config, fs, seconds)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed learn per variant")
    parser.add_argument("--profile", action="store_true", help="cProfile today's SAC first")
    parser.add_argument("--override", nargs="*", default=[], help="key=value on the recipes")
    parser.add_argument("--recipes-only", action="store_true", help="skip today's rows")
    args = parser.parse_args()
    base = load_config(None)
    fs = build_feature_set(
        load_sample(), base.features, exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )
    if args.profile:
        profile_today(fs, args.seconds)
    rows = [
        [measure(name, config, fs, args.seconds) for name, config in group]
        for group in (
            variants("sac", args.override, args.recipes_only),
            variants("tqc", args.override, args.recipes_only),
        )
    ]
    print(
        f"{'variant':<12} {'env-steps/s':>11} {'updates/s':>9} {'samples/s':>10} "
        f"{'upd/trans':>9} {'grad %':>6} {'cpu ms/upd':>10} {'fps x':>6} {'upd/s x':>7} "
        f"{'x sb3':>6}"
    )
    fields = []
    for before, *others in rows:
        sb3 = next(r for r in (before, *others) if r.name.endswith("recipe"))
        for rate in (before, *others):
            print(
                f"{rate.name:<12} {rate.fps:>11,.0f} {rate.updates_per_s:>9,.0f} "
                f"{rate.updates_per_s * rate.batch:>10,.0f} {rate.updates / rate.steps:>9.3f} "
                f"{100 * rate.gradient / rate.wall:>6.0f} {1000 * rate.cpu / rate.updates:>10.2f} "
                f"{rate.fps / before.fps:>6.2f} "
                f"{rate.updates_per_s / before.updates_per_s:>7.2f} "
                f"{rate.updates_per_s / sb3.updates_per_s:>6.2f}"
            )
            label = rate.name.replace(" ", "_")
            fields += [
                f"{label}_fps={rate.fps:.0f}",
                f"{label}_updates_per_s={rate.updates_per_s:.0f}",
            ]
            if "sbx" in rate.name:
                fields.append(f"{label}_vs_sb3={rate.updates_per_s / sb3.updates_per_s:.2f}")
    print("RESULT " + " ".join(fields))


if __name__ == "__main__":
    main()
