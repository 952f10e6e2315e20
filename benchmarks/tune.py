"""Trials per hour of `btcrl tune`.

Default (``--mode objectives``): the walkforward objective (4 inner folds) against the
single-span holdout objective (the baseline), both at the default trial budget
(``tune.budget_timesteps`` 20 000 env-steps on 16 envs; the walkforward objective splits it
over its folds), one worker, no pruning, on the whole bundled sample. Per trial it reports
the wall time (Optuna's trial timings), the time in SB3's ``learn`` minus the validations
inside it (the learning share; goal >= 0.6) and trials per hour.

``--mode budgets``: the walkforward objective alone at several ``tune.budget_timesteps``
(``--budgets``; the space samples the learning rate, so trials differ): seconds per trial,
learning share, and how far the trials' stitched Sharpe moves from the prior's (residual PPO
around the prior: an untrained policy trades the prior) and spreads across trials.

``--mode workers``: 1 vs 2 workers, with and without pruning, tiny budget on three months
(baseline: 1 worker without pruning). Wall time covers everything `btcrl tune` does.
Usage::

    .venv/bin/python benchmarks/tune.py [--mode objectives] [--trials 2]
    .venv/bin/python benchmarks/tune.py --mode budgets [--trials 4] [--budgets 20000,80000]
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


def objective_config(
    root: Path, objective: str, trials: int, budget: int | None = None
) -> ExperimentConfig:
    """One objective's study at the default trial budget (or ``budget`` env-steps a trial),
    no pruning, one worker."""
    study = objective if budget is None else f"{objective}{budget}"
    return load_config(
        None,
        [
            *([] if budget is None else [f"tune.budget_timesteps={budget}"]),
            f"data.data_dir={root / 'data'}",
            f"tune.storage=sqlite:///{root / 'studies' / f'{study}.db'}",
            f"tune.study={study}",
            f"tune.space={root / 'objective_space.yaml'}",
            f"tune.objective={objective}",
            f"tune.trials={trials}",
            "tune.pruner=none",
            "tune.holdout_months=0",  # the study only: no held-back retrain in the timing
            "tune.inner_folds=4",
            "train.system_metrics=false",
        ],
    )


def prepare(root: Path) -> Timers:
    """The process as `btcrl tune` sets it up (imports, frozen GC, torch threads), the candle
    store and feature cache filled, the timers installed."""
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
    return timers


def timed_study(config: ExperimentConfig, timers: Timers) -> tuple[list[Any], float, float]:
    """Run the study: its complete trials, seconds per trial (Optuna's timings), learning
    share."""
    import optuna

    before = (timers.learn, timers.validate)
    run_study(config)
    study = optuna.load_study(study_name=config.tune.study, storage=config.tune.storage)
    done = [t for t in study.trials if t.datetime_complete and t.datetime_start]
    wall = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    learning = (timers.learn - before[0]) - (timers.validate - before[1])
    return done, wall / max(len(done), 1), learning / wall


def run_objectives(root: Path, args: argparse.Namespace) -> None:
    """holdout vs walkforward: table and RESULT line."""
    timers = prepare(root)
    rows = []
    for objective in ("holdout", "walkforward"):
        done, per, share = timed_study(objective_config(root, objective, args.trials), timers)
        rows.append((objective, len(done), per, share))
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


def run_budgets(root: Path, args: argparse.Namespace) -> None:
    """The walkforward objective at each budget: table and RESULT line."""
    timers = prepare(root)
    rows = []
    for budget in (int(b) for b in args.budgets.split(",")):
        config = objective_config(root, "walkforward", args.trials, budget)
        done, per, share = timed_study(config, timers)
        metrics = [t.user_attrs.get("metrics", {}) for t in done]
        sharpe = [m.get("oos/sharpe", float("nan")) for m in metrics]
        moved = [abs(m.get("oos/sharpe", 0.0) - m.get("oos/prior_sharpe", 0.0)) for m in metrics]
        rollout = (config.tune.budget_n_envs or config.train.n_envs) * config.agent.n_steps
        fold = -(-(budget // config.tune.inner_folds) // rollout) * rollout  # whole rollouts
        rows.append((budget, fold, per, share, sharpe, moved))
    print(f"walkforward objective by budget: {args.trials} trial(s) each, {os.cpu_count()} CPUs")
    print(
        f"{'budget':>8} {'per fold':>9} {'s/trial':>8} {'learn':>6} "
        f"{'|sharpe-prior|':>15} {'sharpe range':>13}"
    )
    for budget, fold, per, share, sharpe, moved in rows:
        spread = max(sharpe) - min(sharpe)
        print(
            f"{budget:>8} {fold:>9} {per:>8.1f} {share:>6.2f} "
            f"{sum(moved) / len(moved):>15.4f} {spread:>13.4f}"
        )
    pairs = [f"learning_share_{r[0]}={r[3]:.2f} s_per_trial_{r[0]}={r[2]:.1f}" for r in rows]
    print("RESULT " + " ".join(pairs))


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
    parser.add_argument(
        "--mode", choices=("objectives", "budgets", "workers"), default="objectives"
    )
    parser.add_argument("--budgets", default="20000,80000,200000", help="budgets mode")
    parser.add_argument("--trials", type=int, default=None, help="trials per case (2 / 8)")
    parser.add_argument("--timesteps", type=int, default=768, help="workers mode: per trial")
    args = parser.parse_args()
    args.trials = args.trials or {"objectives": 2, "budgets": 4}.get(args.mode, 8)
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
        elif args.mode == "budgets":
            run_budgets(root, args)
        else:
            run_workers_cases(root, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
