"""Trials per hour of `btcrl tune`: 1 vs 2 workers, with and without pruning, in one run.

Each case is a fresh study (sqlite) over the same tiny budget on three months of the bundled
sample, logged to a throw-away MLflow store; wall time covers everything `btcrl tune` does
(worker start-up, trials, the parent run's tables and plots). The baseline is 1 worker
without pruning. Usage::

    .venv/bin/python benchmarks/tune.py [--trials 8] [--timesteps 768]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import mlflow

from btcrl.config import ExperimentConfig, load_config
from btcrl.tune import run_study

SPACE = """\
algo: ppo
params:
  agent.learning_rate: {type: float, low: 1.0e-5, high: 3.0e-3, log: true}
  agent.gamma: {type: categorical, choices: [0.95, 0.99]}
  env.reward: {type: categorical, choices: [log_return, asymmetric_drawdown]}
  env.exposure_deadzone: {type: float, low: 0.0, high: 0.1}
  env.leverage_limit: {type: float, low: 1.0, high: 2.0, step: 0.5}
fixed:
  agent.n_steps: 64
  agent.batch_size: 64
  agent.n_epochs: 2
  agent.net_arch: [32, 32]
"""

CASES = (  # name, workers, pruner
    ("1 worker", 1, "none"),
    ("1 worker + median pruning", 1, "median"),
    ("2 workers", 2, "none"),
    ("2 workers + median pruning", 2, "median"),
)


def case_config(
    root: Path, name: str, workers: int, pruner: str, args: argparse.Namespace
) -> ExperimentConfig:
    """The study config of one case: its own sqlite study, shared data and feature cache."""
    study = name.replace(" ", "").replace("+", "-")
    return load_config(
        None,
        [
            f"data.data_dir={root / 'data'}",
            "data.start=2024-05-01",
            "data.end=2024-07-31",
            f"tune.storage=sqlite:///{root / 'studies' / f'{study}.db'}",
            f"tune.study={study}",
            f"tune.space={root / 'space.yaml'}",
            f"tune.trials={args.trials}",
            f"tune.workers={workers}",
            f"tune.pruner={pruner}",
            "tune.pruner_startup_trials=2",
            f"tune.budget_timesteps={args.timesteps}",
            f"tune.budget_eval_every={args.timesteps // 6}",
            "tune.budget_n_envs=2",
            "train.system_metrics=false",
        ],
    )


def main() -> None:
    """Run the four cases and print the table and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per case")
    parser.add_argument("--timesteps", type=int, default=768, help="env-steps per trial")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="btcrl-bench-tune-") as tmp:
        root = Path(tmp)
        (root / "space.yaml").write_text(SPACE)
        (root / "mlruns").mkdir()
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
        os.environ.pop("MLFLOW_RUN_ID", None)
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        os.chdir(root)
        warm = case_config(root, "warm", 1, "none", args)
        from btcrl.agents import training  # noqa: F401  (imports are not a trial's cost)
        from btcrl.features import load_feature_set

        load_feature_set(warm.data, warm.features)  # build the feature cache once
        rows = []
        for name, workers, pruner in CASES:
            config = case_config(root, name, workers, pruner, args)
            start = time.perf_counter()
            result = run_study(config)
            wall = time.perf_counter() - start
            s = result.summary
            rows.append(
                (
                    name,
                    s["n_complete"],
                    s["n_pruned"],
                    s["n_fail"],
                    wall,
                    3600.0 * result.n_trials / wall,
                )
            )
    base = rows[0][5]
    print(
        f"tune throughput: {args.trials} trials per case, {args.timesteps} env-steps per trial, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'case':<28} {'done':>5} {'pruned':>6} {'failed':>6} {'wall s':>8} "
        f"{'trials/h':>9} {'ratio':>6}"
    )
    for name, done, pruned, failed, wall, tph in rows:
        print(
            f"{name:<28} {done:>5} {pruned:>6} {failed:>6} {wall:>8.1f} {tph:>9.0f} "
            f"{tph / base:>6.2f}"
        )
    tph = {
        key: row[5] for key, row in zip(("w1", "w1_pruned", "w2", "w2_pruned"), rows, strict=True)
    }
    print(
        "RESULT "
        + " ".join(f"trials_per_hour_{k}={v:.0f}" for k, v in tph.items())
        + f" speedup_2_workers={tph['w2'] / tph['w1']:.2f}"
        + f" speedup_pruning={tph['w1_pruned'] / tph['w1']:.2f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
