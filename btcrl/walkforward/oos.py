"""Out-of-sample test windows: a trained model or a rule baseline, chained in time.

A window runs on the engine and ledger of ``btcrl backtest``: ``run_episode`` in mode
``backtest`` with the forced close at its end, then ``collect_steps`` / ``extract_trades``.
Its episode starts flat at the close of the bar before the test start with the equity it is
given (the previous window's final equity; see ``btcrl.walkforward.stitch``).
"""

import numpy as np

from btcrl.backtest.ledger import collect_steps, extract_trades, ledger_columns
from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS
from btcrl.env.params import first_row
from btcrl.features.spec import FeatureSet
from btcrl.policy.episode import (
    StepPolicy,
    backtest_env_config,
    bar_times,
    model_policy,
    run_episode,
)
from btcrl.policy.policies import PRIOR_RULE, benchmark_env, rule_env, rule_policy
from btcrl.walkforward.stitch import Window

BUY_AND_HOLD = "buy_and_hold"
FLAT = "flat"


def baseline_names(strategies: tuple[str, ...], prior: bool = False) -> tuple[str, ...]:
    """buy_and_hold, flat, ``trend_voltarget`` when the feature sets carry the prior's
    columns (``prior``: ``features.prior.enabled``) and ``strategy:NAME`` for every
    configured strategy."""
    rules = (PRIOR_RULE,) if prior else ()
    return (BUY_AND_HOLD, FLAT, *rules, *(f"strategy:{name}" for name in strategies))


def window_policy(loaded: object, name: str) -> StepPolicy:
    """The deterministic policy of a loaded model (``btcrl.agents.LoadedPolicy``): compiled
    when its actor is an MLP that matches ``predict``, else ``predict`` itself."""
    return model_policy(loaded.model.policy, loaded.predict, name=name)  # type: ignore[attr-defined]


def baseline_policy(name: str, fs: FeatureSet, env: EnvConfig) -> tuple[StepPolicy, EnvConfig]:
    """A rule baseline over ``fs`` and its env (stops effectively off; buy-and-hold without a
    position cap), as ``btcrl backtest --policy`` builds them."""
    return rule_policy(name, fs, env), benchmark_env(env) if name == BUY_AND_HOLD else rule_env(env)


def run_window(
    fs: FeatureSet,
    env: EnvConfig,
    policy: StepPolicy,
    initial_balance: float,
    segment: int,
    seed: int | None = None,
) -> Window:
    """Step ``policy`` through the test window ``fs`` (its row 0 is the starting point),
    starting flat with ``initial_balance`` USD, force-closing at the last close."""
    config = backtest_env_config(env.model_copy(update={"initial_balance": initial_balance}), True)
    episode = run_episode(fs, config, policy, seed=seed)
    ledger = ledger_columns(episode.ledger, LEDGER_FIELDS)
    steps = collect_steps(fs, episode.observations, episode.actions, ledger)
    trades = extract_trades(ledger, steps.index, steps["close"].to_numpy())
    times = bar_times(fs, episode)
    equity = episode.equity
    first = first_row(fs, env.window)
    if len(times) < len(fs) - first:  # bankrupt: flat (at zero) to the window's end
        full = fs.index[first:]
        equity = np.pad(equity, (0, len(full) - len(equity)), mode="edge")
        times = full
    return Window(segment=segment, times=times, equity=equity, steps=steps, trades=trades)
