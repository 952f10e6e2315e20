"""Benchmark: a 60k-bar backtest of a trained PPO end to end, and the engine against vectorbt.

1. End to end: ``run_backtest`` on the real Binance BTC/USDT 1h file (../shared/data) from
   2018-03-01 to 2025-03-31 (about 61k bars): candles, features, model, episode, ledger,
   metrics, plots, MLflow run. Run twice: cold (empty store and feature cache) and warm.
   Without ``--model``, a tiny PPO is trained first (not timed).
2. Stages of one warm backtest, timed apart: ``run_backtest``'s own stage functions
   (``btcrl.backtest.runner``: plan, episodes, summarise, write_artifacts, log), so the
   benchmark times the code it runs, not a copy of it. ``episode_s`` is both episodes (the
   model's and buy-and-hold's), ``plots_s`` what writing report.html adds to the files.
3. Engine-only replay of a policy's position targets (clipped to +-0.9, as vectorbt caps
   orders at its cash; the rule baselines' 99 % stops; no forced close) through the engine
   kernels and TradingEnv, against vectorbt's ``Portfolio.from_orders`` on the same orders
   (stop fills at their reference prices, ``btcrl.backtest.crosscheck``), fee and slippage:
   time and the largest relative difference of the equity curves (must be <= 1e-9). The
   replayed policy must trade: ``--replay`` (default ``strategy:supertrend``, a rule baseline;
   ``model`` replays the model's own targets) and the check fails below MIN_ORDERS orders
   (an equity match over no order proves nothing; the tiny PPO makes none).

    .venv/bin/python benchmarks/backtest.py [--model URI] [--data FILE] [--replay POLICY]

Ends with ``RESULT name=value ...``; the ratio is vectorbt's time over the engine's.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "BTCUSDT_1h_binance.csv"
START, END = "2018-03-01", "2025-03-31"
TARGET_S = 20.0
MIN_ORDERS = 100  # fewest orders the engine-vs-vectorbt replay must make to count


def _config(home: Path, data: Path, extra: list[str]):  # noqa: ANN202
    from btcrl.config import load_config

    return load_config(
        None,
        [
            f"data.source=csv:{data}",
            f"data.data_dir={home / 'data'}",
            f"tracking.uri=sqlite:///{home / 'mlruns' / 'mlflow.db'}",
            *extra,
        ],
    )


def train_tiny_ppo(home: Path, data: Path) -> str:
    """A small PPO on 2024-01..2024-06 (a few seconds); returns its model URI."""
    from btcrl.agents import run_training

    config = _config(
        home,
        data,
        [
            "data.start=2024-01-01",
            "data.end=2024-06-30",
            "train.total_timesteps=4096",
            "train.n_envs=4",
            "train.eval_every=2048",
            "train.model_name=btcrl-ppo-bench",
            "train.system_metrics=false",
            "agent.n_steps=128",
            "agent.batch_size=256",
        ],
    )
    return run_training(config).model_uri


def end_to_end(home: Path, data: Path, model_uri: str) -> tuple[float, object]:
    from btcrl.backtest import run_backtest

    config = _config(home, data, [f"data.start={START}", f"data.end={END}"])
    t0 = time.perf_counter()
    result = run_backtest(config, model_uri=model_uri)
    return time.perf_counter() - t0, result


def stages(home: Path, data: Path, model_uri: str) -> dict[str, float]:
    """Seconds per stage of one warm backtest: run_backtest's own stage functions in order
    (``files`` is write_artifacts without the report, ``plots`` what the report adds)."""
    from btcrl.backtest import runner

    config = _config(home, data, [f"data.start={START}", f"data.end={END}"])
    no_plots = config.model_copy(
        update={"backtest": config.backtest.model_copy(update={"plots": False})}
    )
    out: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        out[name] = time.perf_counter() - t
        return value

    plan = timed("plan (data+model)", runner.plan_backtest, config, model_uri=model_uri)
    episodes = timed("episodes (model+b&h)", runner.run_episodes, plan, config)
    outcome = timed("summarise", runner.summarise, plan, config, episodes)
    with tempfile.TemporaryDirectory() as tmp:
        files, report = Path(tmp) / "files", Path(tmp) / "report"
        files.mkdir()
        report.mkdir()
        timed("files", runner.write_artifacts, files, plan, no_plots, episodes, outcome)
        timed("files+report", runner.write_artifacts, report, plan, config, episodes, outcome)
        out["report size MB"] = (report / "report.html").stat().st_size / 1e6
        timed("log", runner.log_backtest, config, plan, report, outcome.headline, None)
    out["plots"] = out["files+report"] - out["files"]
    return out


def engine_loop(fs, env, targets: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """The engine kernels stepped directly (no gym shell): equity at the start and per step."""
    from btcrl.env.engine import reset_envs, step_envs
    from btcrl.env.layout import L_EQUITY, N_ISTATE, N_LEDGER, N_STATE
    from btcrl.env.params import check_feature_set, engine_params, episode_bounds

    prices, values = check_feature_set(fs)
    bounds = episode_bounds(fs, env, "backtest")
    params = engine_params(env, bounds.steps, auto_reset=False)
    size = fs.spec.observation_size
    state = np.zeros((1, N_STATE))
    istate = np.zeros((1, N_ISTATE), np.int64)
    ledger = np.zeros((1, N_LEDGER))
    obs, term = np.zeros((1, size), np.float32), np.zeros((1, size), np.float32)
    rewards, dones = np.zeros(1, np.float32), np.zeros(1, np.bool_)
    starts = np.array([bounds.first_start], np.int64)
    reset_envs(np.ones(1, np.bool_), starts, values, params, state, istate, obs)
    action = np.zeros((1, 2), np.float32)
    action[0, 1] = 1.0
    equity = np.empty(bounds.steps + 1)
    equity[0] = env.initial_balance
    for k in range(bounds.steps):
        action[0, 0] = targets[bounds.first_start + k]
        step_envs(
            prices, values, action, params, starts, state, istate, ledger, obs, term, rewards, dones
        )
        equity[k + 1] = ledger[0, L_EQUITY]
    return equity


def replay_targets(home: Path, data: Path, model_uri: str, replay: str):  # noqa: ANN201
    """(plan, a_pos target per row) of the policy to replay: ``model`` (the model's actions
    in its backtest) or a rule baseline (``strategy:NAME``, ``buy_and_hold``)."""
    from btcrl.backtest.runner import plan_backtest
    from btcrl.policy.episode import backtest_env_config, run_episode

    config = _config(home, data, [f"data.start={START}", f"data.end={END}"])
    if replay != "model":
        plan = plan_backtest(config, policy=replay)
        return plan, plan.policy.targets.astype(np.float32)
    plan = plan_backtest(config, model_uri=model_uri)
    fs = plan.features
    model_episode = run_episode(fs, backtest_env_config(plan.env, True), plan.policy)
    targets = np.zeros(len(fs), np.float32)
    rows = np.arange(model_episode.start_row, model_episode.start_row + len(model_episode.actions))
    targets[rows] = model_episode.actions[:, 0]
    return plan, targets


def engine_vs_vectorbt(home: Path, data: Path, model_uri: str, replay: str) -> dict[str, float]:
    """Replay the ``replay`` policy's a_pos targets through the engine and vectorbt; compare
    equity."""
    import vectorbt as vbt

    from btcrl.backtest.crosscheck import order_series
    from btcrl.policy.episode import backtest_env_config, run_episode
    from btcrl.policy.policies import RulePolicy

    plan, targets = replay_targets(home, data, model_uri, replay)
    fs = plan.features
    targets = np.clip(targets, -0.9, 0.9)  # vectorbt caps orders at the cash it holds
    env = backtest_env_config(
        plan.rule_env.model_copy(update={"max_position_btc": 1e6}), force_close=False
    )
    t = time.perf_counter()
    episode = run_episode(fs, env, RulePolicy("replay", targets))
    env_s = time.perf_counter() - t
    engine_loop(fs, env, targets)  # compile / load the kernels' cache
    t = time.perf_counter()
    kernel_equity = engine_loop(fs, env, targets)
    engine_s = time.perf_counter() - t
    if not np.array_equal(kernel_equity, episode.equity):
        raise RuntimeError("the engine kernels and TradingEnv disagree")
    size, price = order_series(episode, len(fs))
    close = fs.prices[:, 3]
    price = np.where(np.isnan(price), close, price)
    kwargs = dict(
        size=size,
        size_type="amount",
        price=price,
        fees=env.fee_rate,
        slippage=env.slippage_bps / 1e4,
        init_cash=env.initial_balance,
        direction="both",
        freq="1h",
    )
    t = time.perf_counter()
    vbt.Portfolio.from_orders(close=close, **kwargs).value()  # first call: JIT compile
    vbt_first_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs = np.asarray(vbt.Portfolio.from_orders(close=close, **kwargs).value())
    vbt_s = time.perf_counter() - t
    ours = episode.equity
    diff = float(np.max(np.abs(ours / theirs[episode.start_row :] - 1.0)))
    return {
        "bars": float(len(ours) - 1),
        "orders": float(np.isfinite(size).sum()),
        "stops": float(episode.field("stop_hit").sum()),
        "engine_s": engine_s,
        "env_s": env_s,
        "vbt_s": vbt_s,
        "vbt_first_s": vbt_first_s,
        "max_rel_diff": diff,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model URI (default: train a tiny PPO)")
    parser.add_argument("--data", type=Path, default=DATA, help="1h candle CSV")
    parser.add_argument(
        "--replay",
        default="strategy:supertrend",
        help="policy replayed against vectorbt: model | a rule (must make >= 100 orders)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from btcrl.kernel_cache import drop_stale_kernels

    drop_stale_kernels()  # an entry point: kernels cached from older sources go first
    os.environ.pop("MLFLOW_RUN_ID", None)
    with tempfile.TemporaryDirectory(prefix="btcrl-bench-") as tmp:
        home = Path(tmp)
        (home / "mlruns").mkdir()
        t = time.perf_counter()
        model_uri = args.model or train_tiny_ppo(home, args.data)
        train_s = time.perf_counter() - t
        cold_s, result = end_to_end(home, args.data, model_uri)
        warm_s, result = end_to_end(home, args.data, model_uri)
        parts = stages(home, args.data, model_uri)
        replay = engine_vs_vectorbt(home, args.data, model_uri, args.replay)
    bars = len(result.steps)
    print(f"model {model_uri} (trained in {train_s:.1f} s)" if not args.model else model_uri)
    print(
        f"backtest {bars} bars {result.summary['period']['first_bar']} .. "
        f"{result.summary['period']['last_bar']}: {int(result.headline['round_trips'])} round "
        f"trips, {int(result.headline['fills'])} fills, turnover {result.headline['turnover']:.1f}x"
    )
    print(f"{'stage':<28}{'seconds':>10}")
    print(f"{'end to end, cold cache':<28}{cold_s:>10.2f}")
    print(f"{'end to end, warm cache':<28}{warm_s:>10.2f}")
    for name, value in parts.items():
        print(f"{'  ' + name:<28}{value:>10.2f}")
    print(f"{'replay: TradingEnv loop':<28}{replay['env_s']:>10.3f}")
    print(f"{'replay: engine kernels':<28}{replay['engine_s']:>10.3f}")
    print(
        f"{'replay: vectorbt':<28}{replay['vbt_s']:>10.3f}"
        f"  (first call {replay['vbt_first_s']:.1f}: JIT)"
    )
    ratio = replay["vbt_s"] / replay["engine_s"]
    print(
        f"vectorbt / engine time ratio {ratio:.2f}; {args.replay} replayed: equity max relative "
        f"difference {replay['max_rel_diff']:.2e} over {int(replay['orders'])} orders "
        f"({int(replay['stops'])} of them stops)"
    )
    trades = replay["orders"] >= MIN_ORDERS
    if not trades:
        print(f"FAIL: the replay made {int(replay['orders'])} orders (< {MIN_ORDERS}): no check")
    ok = replay["max_rel_diff"] <= 1e-9 and trades
    print(
        f"RESULT bars={bars} cold_s={cold_s:.2f} warm_s={warm_s:.2f} "
        f"episode_s={parts['episodes (model+b&h)']:.2f} plots_s={parts['plots']:.2f} "
        f"env_replay_s={replay['env_s']:.3f} engine_replay_s={replay['engine_s']:.3f} "
        f"vbt_s={replay['vbt_s']:.3f} orders={int(replay['orders'])} "
        f"vbt_over_engine={ratio:.2f} max_rel_diff={replay['max_rel_diff']:.2e} "
        f"target_s={TARGET_S:.0f} within_target={warm_s <= TARGET_S} match={ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
