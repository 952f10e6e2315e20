"""Does the pre-trained encoder help? A walk-forward ablation at equal learning wall time.

Four variants run the same walk-forward on the bundled sample (or ``--source csv:PATH``;
data from ``--start``,
8-month train windows with a 2-month validation tail, 3-month test windows: 2 segments from
2024-01), PPO, for every seed in ``--seeds``:

- ``mlp_row``: the MLP on one feature row per step (today's default);
- ``mlp_window``: the MLP on the flattened window of ``--window`` rows;
- ``encoder_frozen``: per-segment pre-trained encoder (``--pretrain``), frozen;
- ``encoder_finetuned``: the same, fine-tuned with the policy.

Equal budget: each variant's learning speed (env-steps/s of PPO ``learn`` on the first
segment's train window, encoder variants with an encoder of the same size) is measured first;
its ``train.total_timesteps`` is then ``--budget`` seconds at that speed, so every training
spends about the same learning wall time (pre-training comes on top, and shows in the wall
time). Printed per variant: the stitched out-of-sample Sharpe (annualised, mean over seeds),
the DSR of its primary seed with every (variant, seed) counted as a trial, and the wall time
(the whole walk-forward). The baseline of the ratio column is ``mlp_row``'s Sharpe.
Ends with one RESULT line. Usage::

    .venv/bin/python benchmarks/encoder_ablation.py [--seeds 0] [--budget 20] [--window 32]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from btcrl.config import ExperimentConfig, with_overrides

VARIANTS: dict[str, dict[str, Any]] = {
    "mlp_row": {},
    "mlp_window": {"env.window": "WINDOW"},
    "encoder_frozen": {"pretrain.per_segment": True, "agent.encoder_trainable": False},
    "encoder_finetuned": {"pretrain.per_segment": True, "agent.encoder_trainable": True},
}


def base_config(root: Path, args: argparse.Namespace) -> ExperimentConfig:
    return with_overrides(
        ExperimentConfig(),
        {
            "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
            "data.data_dir": str(root / "data"),
            "data.start": args.start,
            "data.source": args.source,
            "train.system_metrics": False,
            "train.torch_threads": args.threads,
            "train.n_envs": 16,
            "agent.n_steps": 64,
            "agent.batch_size": 256,
            "agent.n_epochs": 4,
            "env.episode_length": 256,
            "walkforward.train_months": 8,
            "walkforward.val_months": 2,
            "walkforward.test_months": 3,
            "walkforward.step_months": 3,
            "walkforward.seeds": list(args.seeds),
            "walkforward.storage": f"sqlite:///{root / 'studies.db'}",
            "walkforward.register_model": False,
            "pretrain.window": args.window,
            "pretrain.steps": args.pretrain_steps,
            "pretrain.eval_every": args.pretrain_steps,
            "pretrain.torch_threads": args.threads,
        },
    )


def variant_config(base: ExperimentConfig, name: str, window: int) -> ExperimentConfig:
    sets = {k: (window if v == "WINDOW" else v) for k, v in VARIANTS[name].items()}
    return with_overrides(base, {**sets, "walkforward.name": f"ablation-{name}"})


def learning_speed(config: ExperimentConfig) -> float:
    """Env-steps/s of PPO ``learn`` for ``config`` on its first segment's train window (an
    encoder variant gets a fresh encoder of the configured size: the same cost)."""
    from btcrl.agents.algos import build_model, seed_training
    from btcrl.encoder.extractor import encoder_policy_kwargs
    from btcrl.encoder.model import EncoderShape, MaskedEncoder
    from btcrl.env import BatchTradingEnv
    from btcrl.features import load_feature_set
    from btcrl.jobs.processes import set_torch_threads

    features = load_feature_set(config.data, config.features)
    features = features.rows(0, min(len(features), 6000))
    kwargs: dict[str, Any] = {}
    env_config = config.env
    if config.pretrain.per_segment:
        p = config.pretrain
        shape = EncoderShape(
            features.features.shape[1],
            p.window,
            p.d_model,
            p.n_heads,
            p.n_layers,
            p.dim_feedforward,
        )
        kwargs = encoder_policy_kwargs(MaskedEncoder(shape), config.agent.encoder_trainable)
        env_config = env_config.model_copy(update={"window": p.window})
    set_torch_threads(config.train.torch_threads)
    seed_training(0, "cpu")
    env = BatchTradingEnv(features, env_config, config.train.n_envs, 0)
    model = build_model(config.agent, env, 0, "cpu", kwargs)
    rollout = config.agent.n_steps * config.train.n_envs
    model.learn(rollout)  # warm-up
    start = time.perf_counter()
    model.learn(2 * rollout, reset_num_timesteps=False)
    env.close()
    return 2 * rollout / (time.perf_counter() - start)


def run_variant(config: ExperimentConfig, budget: float) -> dict[str, Any]:
    """Calibrate, run the walk-forward, capture each seed's stitched per-bar returns."""
    import btcrl.walkforward.aggregate as aggregate_module
    from btcrl.walkforward import run_walkforward

    speed = learning_speed(config)
    rollout = config.agent.n_steps * config.train.n_envs
    steps = max(rollout, int(speed * budget) // rollout * rollout)
    config = with_overrides(config, {"train.total_timesteps": steps, "train.eval_every": steps})
    captured: dict[str, Any] = {}
    original = aggregate_module.aggregate

    def capture(*args: Any, **kwargs: Any) -> Any:
        captured["agg"] = original(*args, **kwargs)
        return captured["agg"]

    aggregate_module.aggregate = capture
    try:
        start = time.perf_counter()
        result = run_walkforward(config)
        wall = time.perf_counter() - start
    finally:
        aggregate_module.aggregate = original
    agg = captured["agg"]
    returns = {seed: s.equity[1:] / s.equity[:-1] - 1.0 for seed, s in agg.models.items()}
    sharpes = [s.metrics["sharpe"] for s in agg.models.values()]
    return {
        "speed": speed,
        "steps": steps,
        "wall": wall,
        "returns": returns,
        "sharpe": float(np.mean(sharpes)),
        "segments": result.finished,
        "primary": agg.primary.metrics,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0])
    parser.add_argument("--budget", type=float, default=20.0, help="learning seconds per run")
    parser.add_argument("--window", type=int, default=32, help="bars per window / encoder")
    parser.add_argument("--pretrain-steps", type=int, default=300, help="encoder steps")
    parser.add_argument("--start", default="2024-01-01", help="first day of data")
    parser.add_argument("--source", default="sample", help="data.source (csv:PATH for more)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from btcrl.metrics import sharpe_per_bar, stats
    from btcrl.tracking import configure_tracking

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        base = base_config(Path(tmp), args)
        configure_tracking(base.tracking)
        for name in args.variants.split(","):
            results[name] = run_variant(variant_config(base, name, args.window), args.budget)
            print(f"{name}: done in {results[name]['wall']:.0f} s", file=sys.stderr)
    per_bar = [
        float(sharpe_per_bar(r)) for res in results.values() for r in res["returns"].values()
    ]
    n_trials = len(per_bar)
    variance = float(np.var(per_bar, ddof=1)) if n_trials > 1 else 0.0
    first = next(iter(results.values()))
    print(
        f"walk-forward ablation: {first['segments']} segments x {len(args.seeds)} seed(s), "
        f"PPO, window {args.window}, {args.budget:.0f} s of learning per training, "
        f"{n_trials} trials in the DSR"
    )
    print(
        f"{'variant':<19}{'steps/s':>9}{'env-steps':>11}{'OOS Sharpe':>12}{'x mlp_row':>10}"
        f"{'DSR':>7}{'return':>9}{'wall s':>8}"
    )
    line = []
    reference = results.get("mlp_row", first)["sharpe"]
    for name, res in results.items():
        primary = res["returns"][args.seeds[0]]
        dsr = stats.deflated_sharpe_ratio(primary, n_trials, variance)
        ratio = res["sharpe"] / reference if reference else float("nan")
        print(
            f"{name:<19}{res['speed']:>9,.0f}{res['steps']:>11,d}{res['sharpe']:>12.2f}"
            f"{ratio:>10.2f}{dsr:>7.2f}{res['primary']['total_return']:>9.3f}"
            f"{res['wall']:>8.0f}"
        )
        line += [
            f"{name}_sharpe={res['sharpe']:.3f}",
            f"{name}_dsr={dsr:.3f}",
            f"{name}_wall_s={res['wall']:.0f}",
        ]
    best = max(results, key=lambda k: results[k]["sharpe"])
    print(f"best stitched OOS Sharpe: {best}")
    print("RESULT " + " ".join(line) + f" best={best}")


if __name__ == "__main__":
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    sys.exit(main())
