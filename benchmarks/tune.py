"""Trials per hour of `btcrl tune`.

Default (``--mode objectives``): the walkforward objective (4 inner folds) against the
single-span holdout objective (the baseline), both at the default trial budget
(``tune.budget_timesteps`` 20 000 env-steps on 16 envs; the walkforward objective splits it
over its folds), one worker, no pruning, on the whole bundled sample. Per trial it reports
the wall time (Optuna's trial timings), the time in SB3's ``learn`` minus the validations
inside it (the learning share; goal >= 0.6) and trials per hour.

``--mode workers``: 1 vs 2 workers, with and without pruning, tiny budget on three months
(baseline: 1 worker without pruning). Wall time covers everything `btcrl tune` does.
Usage::

    .venv/bin/python benchmarks/tune.py [--mode objectives] [--trials 2]
    .venv/bin/python benchmarks/tune.py --mode workers [--trials 8] [--timesteps 768]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

OBJECTIVE_SPACE = """\
algo: ppo
params:
  agent.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}
  agent.gamma: {type: categorical, choices: [0.95, 0.99]}
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
            "tune.holdout_months=0",
            "tune.objective=holdout",
            f"tune.budget_timesteps={args.timesteps}",
            f"tune.budget_eval_every={args.timesteps // 6}",
            "tune.budget_n_envs=2",
            "train.system_metrics=false",
        ],
    )


class Timers:
    """Seconds spent in SB3's ``learn`` and in the validations run inside it (probes)."""

    def __init__(self) -> None:
        self.learn = 0.0
        self.validate = 0.0
        self.inside = False

    def install(self) -> None:
        from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
        from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

        from btcrl.agents.callbacks import ValidationCallback

        for owner in (OnPolicyAlgorithm, OffPolicyAlgorithm):
            owner.learn = self._timed(owner.learn, "learn")  # type: ignore[method-assign]
        ValidationCallback.validate = self._timed(  # type: ignore[method-assign]
            ValidationCallback.validate, "validate"
        )

    def _timed(self, original: Any, key: str) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            if key == "validate" and not self.inside:
                return original(*a, **kw)  # the final validation after learn is not learning
            nested, start = self.inside, time.perf_counter()
            self.inside = True
            try:
                return original(*a, **kw)
            finally:
                self.inside = nested if key == "validate" else False
                setattr(self, key, getattr(self, key) + time.perf_counter() - start)

        return timed


def objective_config(root: Path, objective: str, trials: int) -> ExperimentConfig:
    """One objective's study at the default trial budget, no pruning, one worker."""
    return load_config(
        None,
        [
            f"data.data_dir={root / 'data'}",
            f"tune.storage=sqlite:///{root / 'studies' / f'{objective}.db'}",
            f"tune.study={objective}",
            f"tune.space={root / 'objective_space.yaml'}",
            f"tune.objective={objective}",
            f"tune.trials={trials}",
            "tune.pruner=none",
            "tune.holdout_months=0",  # the study only: no held-back retrain in the timing
            "tune.inner_folds=4",
            "train.system_metrics=false",
        ],
    )


def run_objectives(root: Path, args: argparse.Namespace) -> None:
    """holdout vs walkforward: table and RESULT line."""
    import optuna

    (root / "objective_space.yaml").write_text(OBJECTIVE_SPACE)
    warm = objective_config(root, "holdout", 1)
    from btcrl.agents import training  # noqa: F401  (imports are not a trial's cost)
    from btcrl.features import load_feature_set
    from btcrl.jobs.processes import set_torch_threads
    from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports

    freeze_after_imports((*TRAINING_MODULES, "btcrl.tune"))  # as `btcrl tune` does
    set_torch_threads(warm.train.torch_threads)  # ditto (torch's own default: every core)
    load_feature_set(warm.data, warm.features)  # the candle store and feature cache, once
    timers = Timers()
    timers.install()
    rows = []
    for objective in ("holdout", "walkforward"):
        config = objective_config(root, objective, args.trials)
        before = (timers.learn, timers.validate)
        run_study(config)
        study = optuna.load_study(study_name=objective, storage=config.tune.storage)
        done = [t for t in study.trials if t.datetime_complete and t.datetime_start]
        wall = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
        learning = (timers.learn - before[0]) - (timers.validate - before[1])
        rows.append((objective, len(done), wall / max(len(done), 1), learning / wall))
    base = 3600.0 / rows[0][2]
    print(f"tune objectives: {args.trials} trial(s) each, default budget, {os.cpu_count()} CPUs")
    print(
        f"{'objective':<22} {'trials':>6} {'s/trial':>8} {'trials/h':>9} {'learn':>6} {'ratio':>6}"
    )
    for name, n, per, share in rows:
        print(
            f"{name:<22} {n:>6} {per:>8.1f} {3600 / per:>9.1f} {share:>6.2f} "
            f"{3600 / per / base:>6.2f}"
        )
    (_, _, h_per, h_share), (_, _, w_per, w_share) = rows
    print(
        f"RESULT trials_per_hour_holdout={3600 / h_per:.1f} "
        f"trials_per_hour_walkforward={3600 / w_per:.1f} cost_ratio={w_per / h_per:.2f} "
        f"learning_share_holdout={h_share:.2f} learning_share_walkforward={w_share:.2f}"
    )


def run_workers_cases(root: Path, args: argparse.Namespace) -> None:
    """The four worker/pruning cases: table and RESULT line."""
    (root / "space.yaml").write_text(SPACE)
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


def main() -> None:
    """Run the chosen mode and print its table and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("objectives", "workers"), default="objectives")
    parser.add_argument("--trials", type=int, default=None, help="trials per case (2 / 8)")
    parser.add_argument("--timesteps", type=int, default=768, help="workers mode: per trial")
    args = parser.parse_args()
    args.trials = args.trials or (2 if args.mode == "objectives" else 8)
    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="btcrl-bench-tune-") as tmp:
        root = Path(tmp)
        (root / "mlruns").mkdir()
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
        os.environ.pop("MLFLOW_RUN_ID", None)
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        os.chdir(root)
        if args.mode == "objectives":
            run_objectives(root, args)
        else:
            run_workers_cases(root, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
