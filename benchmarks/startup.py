"""Process start-up: time to the first env-step of ``btcrl train``, ``btcrl --help`` and a
spawned worker's start, before/after the start-up work of ``btcrl.jobs.startup``, same run.

"Before" runs the same code with ``BTCRL_GC_FREEZE=0``: every command module imported
eagerly, CPython's collector on during imports, no ``gc.freeze()``, default thresholds.
"After" is the default: a command's module imported only when it runs, imports with the
collector paused, then the heap frozen and the generation-0 threshold raised.

- ``help``: ``btcrl --help`` to exit.
- ``train``: ``btcrl train --total-timesteps 2048`` from process start to the first
  ``BatchTradingEnv.step_wait`` (a meta-path hook in the child stamps it and exits, so
  nothing of btcrl is imported early); ``train_full`` is the whole command to exit.
- ``worker``: a fresh process that does what a spawned tune / walk-forward worker does
  before its first trial: import its module, ``freeze_after_imports(TRAINING_MODULES)``,
  build the default PPO on a batched env (its first Adam).

Each variant runs ``--repeat`` times, before and after alternating; the figure is the
median wall time (and the children's CPU time, steadier on a shared machine). The MLflow
store is migrated and the sample ingested once before the clock. Ends with one RESULT line.

    .venv/bin/python benchmarks/startup.py [--repeat 3]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BTCRL = Path(sys.executable).with_name("btcrl")

#: child code: exit at the first env step of ``btcrl train`` and print its wall-clock stamp
FIRST_STEP = """
import importlib.abc, importlib.machinery, os, sys, time

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "btcrl.env.batch_env":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            def step_wait(self):
                print(f"FIRST_STEP {time.time():.6f}", flush=True)
                os._exit(0)
            module.BatchTradingEnv.step_wait = step_wait
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
sys.argv = ["btcrl", *sys.argv[1:]]
from btcrl.cli import main
main()
"""

WORKER = """
from btcrl.walkforward import jobs  # what the spawn unpickles first
from btcrl.jobs.startup import TRAINING_MODULES, freeze_after_imports
freeze_after_imports(TRAINING_MODULES)
from btcrl.agents.algos import build_model
from btcrl.config import ExperimentConfig
from btcrl.data.sample import load_sample
from btcrl.env import BatchTradingEnv
from btcrl.features import build_feature_set
cfg = ExperimentConfig()
fs = build_feature_set(load_sample(), cfg.features, exchange="binance", symbol="BTC/USDT",
                       timeframe="1h")
env = BatchTradingEnv(fs, cfg.env, 4, 0)
build_model(cfg.agent, env, 0, "cpu")
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds to exit or to the child's FIRST_STEP stamp, children's CPU seconds,
    stdout) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("FIRST_STEP "):
            end = float(line.split()[1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return end - start, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            "BTCRL_DATA_DIR": str(Path(tmp) / "data"),
        }
        train = ["train", "--total-timesteps", "2048", "--set", "train.system_metrics=false"]
        variants = {
            "help": [str(BTCRL), "--help"],
            "train": [sys.executable, "-c", FIRST_STEP, *train],
            "train_full": [str(BTCRL), *train],
            "worker": [sys.executable, "-c", WORKER],
        }
        run(variants["train"], base)  # store migration, sample ingest, numba cache: untimed
        modes = {"before": {**base, "BTCRL_GC_FREEZE": "0"}, "after": base}
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeat):
            for name, argv in variants.items():
                for mode, env in modes.items():
                    wall, cpu, _ = run(argv, env)
                    times.setdefault((name, mode), []).append((wall, cpu))
    load = os.getloadavg()[0]
    print(
        f"{'variant':<11}{'before s':>10}{'after s':>10}{'ratio':>7}{'cpu before':>12}"
        f"{'cpu after':>11}{'cpu ratio':>10}   (median of {args.repeat}, load {load:.1f})"
    )
    fields = []
    for name in variants:
        b_wall, b_cpu = (statistics.median(x) for x in zip(*times[(name, "before")], strict=True))
        a_wall, a_cpu = (statistics.median(x) for x in zip(*times[(name, "after")], strict=True))
        print(
            f"{name:<11}{b_wall:>10.2f}{a_wall:>10.2f}{b_wall / a_wall:>7.2f}{b_cpu:>12.2f}"
            f"{a_cpu:>11.2f}{b_cpu / a_cpu:>10.2f}"
        )
        fields += [
            f"{name}_before_s={b_wall:.2f}",
            f"{name}_after_s={a_wall:.2f}",
            f"{name}_ratio={b_wall / a_wall:.2f}",
            f"{name}_cpu_ratio={b_cpu / a_cpu:.2f}",
        ]
    print("RESULT " + " ".join(fields) + f" load={load:.1f}")


if __name__ == "__main__":
    main()
