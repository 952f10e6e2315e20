"""Out-of-sample test windows: a trained model or a rule baseline, chained in time.

A window runs on the engine and ledger of ``btcrl backtest``: ``run_episode`` in mode
``backtest`` with the forced close at its end, then ``collect_steps`` / ``extract_trades``.
Its episode starts flat at the close of the bar before the test start with the equity it is
given (the previous window's final equity; see ``btcrl.walkforward.stitch``).
"""

import numpy as np

from btcrl.backtest.episode import StepPolicy, backtest_env_config, bar_times, run_episode
from btcrl.backtest.fast_policy import fast_predict
from btcrl.backtest.ledger import collect_steps, extract_trades
from btcrl.backtest.policies import (
    RULE_STOP_PCT,
    ModelPolicy,
    RulePolicy,
    decode_onehot,
    rule_targets,
)
from btcrl.config.env import EnvConfig
from btcrl.env import LEDGER_FIELDS
from btcrl.errors import ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.walkforward.stitch import Window

MODEL = "model"
BUY_AND_HOLD = "buy_and_hold"
FLAT = "flat"


def baseline_names(strategies: tuple[str, ...]) -> tuple[str, ...]:
    """buy_and_hold, flat and ``strategy:NAME`` for every configured strategy."""
    return (BUY_AND_HOLD, FLAT, *(f"strategy:{name}" for name in strategies))


def model_policy(loaded: object, spec_size: int, name: str) -> StepPolicy:
    """The deterministic policy of a loaded model (``btcrl.agents.LoadedPolicy``), through the
    backtest's fast path when it recognises the network, else ``predict``."""
    model = getattr(loaded, "model", None)
    fast = fast_predict(model, spec_size) if model is not None else None
    return ModelPolicy(fast or loaded.predict, name=name)  # type: ignore[attr-defined]


def rule_policy(name: str, fs: FeatureSet, env: EnvConfig) -> tuple[StepPolicy, EnvConfig]:
    """A rule baseline over ``fs`` and its env (stops effectively off), as ``btcrl backtest
    --policy`` builds them."""
    rule_env = env.model_copy(update={"min_stop_pct": RULE_STOP_PCT, "max_stop_pct": RULE_STOP_PCT})
    signals = None
    kind = name
    if name.startswith("strategy:"):
        kind, strategy = "strategy", name.removeprefix("strategy:")
        wanted = [f"{strategy}_{label}" for label in ("flat", "long", "short", "hold")]
        names = fs.spec.feature_names
        if any(w not in names for w in wanted):
            raise ConfigError(f"strategy {strategy!r} has no signal columns in the feature set")
        signals = decode_onehot(fs.features[:, [names.index(w) for w in wanted]])
    elif name not in (BUY_AND_HOLD, FLAT):
        raise ConfigError(f"baseline {name!r} is unknown")
    targets = rule_targets(kind, len(fs), signals, env.allow_short, env.leverage_limit)
    return RulePolicy(name, targets), rule_env


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
    steps = collect_steps(fs, episode.observations, episode.actions, episode.ledger, LEDGER_FIELDS)
    trades = extract_trades(steps)
    times = bar_times(fs, episode)
    equity = episode.equity
    if len(times) < len(fs) - fs.first_valid:  # bankrupt: flat (at zero) to the window's end
        full = fs.index[fs.first_valid :]
        equity = np.pad(equity, (0, len(full) - len(equity)), mode="edge")
        times = full
    return Window(segment=segment, times=times, equity=equity, steps=steps, trades=trades)
