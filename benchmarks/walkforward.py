"""Where a walk-forward's wall time goes: learning vs validation + backtest vs set-up + logging.

A 10-segment walk-forward on the bundled sample (2022-01 .. 2025-03): 8-month train windows
(2-month validation tail), 3-month test windows, 50,000 env-steps per segment, one seed, one
in-process worker, a throw-away MLflow store and Optuna study. Timers wrap (without changing)
SB3's ``learn``, ``ValidationCallback.validate`` and the out-of-sample windows
(``btcrl.walkforward.aggregate.run_window``); learning is ``learn`` minus the validations run
inside it; set-up + logging is the rest of the wall time (data, features, study, MLflow
runs, model files, model loading, report). Imports (torch's optimiser pulls in
``torch._dynamo`` on first use, seconds) and the one-off migration of a fresh MLflow store
are paid before the clock starts. The baseline of the ratio is the whole wall time.
Goal: learning share >= 0.6.

After the walk-forward, in the same process, the compiled episode is timed against SB3
``predict`` stepping ``TradingEnv`` on ``--episode-bars`` bars of the sample (the pieces of
``benchmarks/episode.py``: an untrained default PPO policy; weights do not change the cost).
Usage::

    .venv/bin/python benchmarks/walkforward.py [--segments 10] [--timesteps 50000]
        [--episode-bars 5000]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from btcrl.config import ExperimentConfig, with_overrides

TIMES: dict[str, float] = defaultdict(float)
INSIDE: set[str] = set()  # timers running now


def timed(owner: Any, name: str, key: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its wall time to ``TIMES[key]`` (and to
    ``TIMES[key + ' in learn']`` while a ``learn`` timer runs)."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        INSIDE.add(key)
        try:
            return original(*args, **kwargs)
        finally:
            INSIDE.discard(key)
            seconds = time.perf_counter() - start
            TIMES[key] += seconds
            if "learn" in INSIDE:
                TIMES[f"{key} in learn"] += seconds

    setattr(owner, name, wrapper)


def config(root: Path, segments: int, timesteps: int) -> ExperimentConfig:
    return with_overrides(
        ExperimentConfig(),
        {
            "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
            "data.data_dir": str(root / "data"),
            "train.total_timesteps": timesteps,
            "train.system_metrics": False,
            "walkforward.train_months": 8,
            "walkforward.val_months": 2,
            "walkforward.test_months": 3,
            "walkforward.step_months": 3,
            "walkforward.name": "bench",
            "walkforward.storage": f"sqlite:///{root / 'studies.db'}",
            "walkforward.segments": list(range(segments)),
        },
    )


def episode_speedup(bars: int, repeat: int = 3) -> tuple[float, float, int, float]:
    """(compiled seconds (best of ``repeat``), predict seconds, bars, max |action gap|) of
    one deterministic episode over ``bars`` bars (``benchmarks/episode.py``'s set-up)."""
    import episode  # benchmarks/episode.py, beside this file

    from btcrl.config.env import EnvConfig
    from btcrl.policy.act import deterministic_act
    from btcrl.policy.episode import backtest_env_config, model_policy, run_episode

    fs, model = episode.build("ppo", bars)
    config = backtest_env_config(EnvConfig(), True)
    policy = model_policy(model.policy, deterministic_act(model), name="ppo")
    run_episode(fs, config, policy)  # numba's first call (compile or cache load)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        compiled = run_episode(fs, config, policy)
        times.append(time.perf_counter() - start)
    predict_s, actions = episode.predict_episode(fs, config, model)
    gap = float(np.abs(actions - compiled.actions).max())
    return min(times), predict_s, compiled.ledger.shape[0], gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--episode-bars", type=int, default=5_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    import btcrl.walkforward.aggregate as aggregate
    from btcrl.agents.callbacks import ValidationCallback
    from btcrl.walkforward import run_walkforward

    timed(OnPolicyAlgorithm, "learn", "learn")
    timed(OffPolicyAlgorithm, "learn", "learn")
    timed(ValidationCallback, "validate", "validation")
    timed(aggregate, "run_window", "backtest")
    import torch._dynamo  # noqa: F401  (imports are paid once per process)

    import btcrl.agents.training  # noqa: F401
    from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports
    from btcrl.tracking import configure_tracking, ensure_experiment

    freeze_after_imports(TRAINING_MODULES)  # as `btcrl walkforward` does (BTCRL_GC_FREEZE=0: off)

    with tempfile.TemporaryDirectory(prefix="bench-walkforward-") as tmp:
        cfg = config(Path(tmp), args.segments, args.timesteps)
        configure_tracking(cfg.tracking)  # a fresh store migrates once (seconds): not timed
        ensure_experiment(cfg.walkforward.experiment)
        start = time.perf_counter()
        result = run_walkforward(cfg)
        wall = time.perf_counter() - start
    compiled_s, predict_s, bars, gap = episode_speedup(args.episode_bars)
    learning = TIMES["learn"] - TIMES["validation in learn"]
    evaluation = TIMES["validation"] + TIMES["backtest"]
    other = wall - learning - evaluation
    rows = [
        ("learning", learning),
        ("validation + backtest", evaluation),
        ("  validation (checkpoint picks)", TIMES["validation"]),
        ("  out-of-sample windows (model + baselines)", TIMES["backtest"]),
        ("set-up + logging", other),
        ("total (baseline)", wall),
    ]
    print(f"walk-forward: {result.finished} segments x {args.timesteps} env-steps, 1 worker")
    print(f"{'part':<46}{'seconds':>10}{'share':>8}")
    for name, seconds in rows:
        print(f"{name:<46}{seconds:>10.1f}{seconds / wall:>8.2f}")
    steps_per_s = result.finished * args.timesteps / max(learning, 1e-9)
    print(f"learning speed: {steps_per_s:,.0f} env-steps/s; goal: learning share >= 0.6")
    print(
        f"episode of {bars} bars: compiled {compiled_s * 1e3:.1f} ms, SB3 predict stepping "
        f"{predict_s * 1e3:.0f} ms (baseline): {predict_s / compiled_s:.0f}x faster; "
        f"max |action gap| {gap:.1e}"
    )
    print(
        f"RESULT segments={result.finished} timesteps_per_segment={args.timesteps} "
        f"wall_s={wall:.1f} learning_s={learning:.1f} validation_backtest_s={evaluation:.1f} "
        f"setup_logging_s={other:.1f} learning_share={learning / wall:.3f} "
        f"episode_bars={bars} compiled_ms={compiled_s * 1e3:.1f} predict_ms={predict_s * 1e3:.0f} "
        f"episode_speedup={predict_s / compiled_s:.0f}"
    )


if __name__ == "__main__":
    sys.exit(main())
