"""What acts in a backtest: a trained model, or a rule baseline through the same pipeline.

A policy maps (row t, observation of row t) to the action ``[a_pos, a_sl]`` for bar t + 1.
Rule baselines ignore the observation:

- ``buy_and_hold``: ``a_pos = 1`` on every bar (fully long from the first open on).
- ``flat``: ``a_pos = 0`` (never trades; the zero line of every metric).
- ``strategy:NAME``: one of the strategies' signals at row t: LONG -> 1, SHORT -> -1 (0 when
  ``env.allow_short`` is off), FLAT -> 0, HOLD -> keep the previous target (0 at the start).
- ``trend_voltarget``: the prior (``btcrl.features.prior``): ``a_pos`` = the observed
  ``prior_exposure`` column at row t (0 before it is defined). The feature set must carry the
  prior's columns (``features.prior.enabled``; ``btcrl backtest`` enables it for this rule).
  A residual model whose action is 0 trades exactly this (``env.action_mode: residual``).

Rules trade unlevered: with ``env.leverage_limit`` L > 1 every target is divided by L, so
"long" is 1x equity (``a_pos`` is a fraction of L x equity).

Rule baselines run with stops effectively off (``RULE_STOP_PCT`` below entry), so that
buy-and-hold holds; they are otherwise traded under the same env rules (fees, slippage,
deadzone, position cap) as the model; the buy-and-hold benchmark ignores a position cap, vol
targeting, hysteresis and action levels (``benchmark_env``).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from btcrl.config.env import EnvConfig
from btcrl.env.params import RULE_STOP_PCT  # a long's stop at 1 % of its entry
from btcrl.errors import ConfigError
from btcrl.features.prior import EXPOSURE_COLUMN
from btcrl.features.spec import FeatureSet
from btcrl.strategies.base import UNDEFINED

PRIOR_RULE = "trend_voltarget"
RULE_POLICIES = ("buy_and_hold", "flat", PRIOR_RULE, "strategy:NAME")
FLAT, LONG, SHORT, HOLD = 0, 1, 2, 3

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class ModelPolicy:
    """A trained model: ``predict(obs (N, obs_size) float32) -> (N, 2)`` deterministic."""

    predict: Predict
    name: str = "model"

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict(obs[None, :]), dtype=np.float32)[0]


@dataclass
class RulePolicy:
    """A rule baseline: the target ``a_pos`` per feature-set row, decided in advance."""

    name: str
    targets: np.ndarray  # float32 (T,) a_pos for the action taken at row t

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return np.array([self.targets[row], 1.0], dtype=np.float32)


def parse_rule(policy: str) -> tuple[str, str | None]:
    """``"buy_and_hold"`` -> (buy_and_hold, None); ``"strategy:ott"`` -> (strategy, ott).

    Raises ConfigError naming the value and what is allowed.
    """
    value = policy.strip()
    if value in ("buy_and_hold", "flat", PRIOR_RULE):
        return value, None
    if value.startswith("strategy:") and value.removeprefix("strategy:").strip():
        return "strategy", value.removeprefix("strategy:").strip()
    raise ConfigError(f"policy {policy!r} is unknown; use one of {', '.join(RULE_POLICIES)}")


def signal_targets(signals: np.ndarray, allow_short: bool) -> np.ndarray:
    """Target ``a_pos`` per row from strategy signals (0 FLAT, 1 LONG, 2 SHORT, 3 HOLD).

    HOLD (and any other code) keeps the previous target; the target before the first row is 0.
    """
    codes = np.asarray(signals)
    short = -1.0 if allow_short else 0.0
    decided = np.full(codes.shape, np.nan)
    decided[codes == FLAT] = 0.0
    decided[codes == LONG] = 1.0
    decided[codes == SHORT] = short
    # forward-fill the decided targets over HOLD rows
    idx = np.where(np.isnan(decided), 0, np.arange(codes.size))
    np.maximum.accumulate(idx, out=idx)
    filled = decided[idx]
    return np.where(np.isnan(filled), 0.0, filled).astype(np.float32)


def unlevered(leverage_limit: float) -> float:
    """The ``a_pos`` that means 1x equity: ``a_pos`` is a fraction of leverage x equity."""
    return float(min(1.0, 1.0 / leverage_limit))


def rule_targets(
    kind: str,
    n_rows: int,
    signals: np.ndarray | None,
    allow_short: bool,
    leverage_limit: float = 1.0,
) -> np.ndarray:
    """Targets for a parsed rule (``parse_rule``); ``signals`` per row for ``strategy``, the
    prior's exposure (fraction of equity, NaN = not yet defined) for ``trend_voltarget``.

    Rules trade unlevered: "long" is 1x equity whatever ``env.leverage_limit`` allows.
    """
    scale = np.float32(unlevered(leverage_limit))
    if kind == PRIOR_RULE:
        if signals is None or len(signals) != n_rows:
            raise ValueError("prior targets need one exposure per feature-set row")
        exposure = np.nan_to_num(np.asarray(signals, dtype=np.float32), nan=0.0)
        return exposure * scale
    if kind == "buy_and_hold":
        return np.full(n_rows, scale, dtype=np.float32)
    if kind == "flat":
        return np.zeros(n_rows, dtype=np.float32)
    if signals is None or len(signals) != n_rows:
        raise ValueError("strategy targets need one signal per feature-set row")
    return signal_targets(signals, allow_short) * scale


def rule_env(env: EnvConfig) -> EnvConfig:
    """``env`` with the rules' stops (``RULE_STOP_PCT``: effectively off) and absolute
    actions (a rule's target is the exposure itself, also beside a residual model)."""
    update = {"min_stop_pct": RULE_STOP_PCT, "max_stop_pct": RULE_STOP_PCT}
    return env.model_copy(update={**update, "action_mode": "absolute"})


def benchmark_env(env: EnvConfig) -> EnvConfig:
    """The buy-and-hold benchmark's env: ``rule_env`` without what would reshape the holding
    (a position cap, vol targeting, hysteresis, action levels), so that it holds 1x equity
    from the first open whatever ``env`` says (docs/backtest.md, "Buy-and-hold, exactly");
    costs, leverage and the forced close stay."""
    plain = {
        "max_position_btc": None,
        "target_volatility": None,
        "hysteresis_bars": 1,
        "action_levels": None,
    }
    return rule_env(env).model_copy(update=plain)


def rule_policy(policy: str, features: FeatureSet, env: EnvConfig) -> RulePolicy:
    """The rule baseline ``policy`` (buy_and_hold | flat | strategy:NAME) over ``features``,
    sized under ``env`` (unlevered; shorts as ``env.allow_short`` allows). ConfigError for an
    unknown rule or a strategy without signal codes in ``features``."""
    kind, strategy = parse_rule(policy)
    signals = strategy_codes(features, strategy) if strategy else None
    if kind == PRIOR_RULE:
        signals = prior_exposure(features)
    targets = rule_targets(kind, len(features), signals, env.allow_short, env.leverage_limit)
    return RulePolicy(policy, targets)


def buy_and_hold_policy(n_rows: int, leverage_limit: float = 1.0) -> RulePolicy:
    """The benchmark: 1x equity long on every row."""
    targets = rule_targets("buy_and_hold", n_rows, None, True, leverage_limit)
    return RulePolicy("buy_and_hold", targets)


def strategy_codes(features: FeatureSet, name: str) -> np.ndarray:
    """The strategy ``name``'s raw signal codes per feature-set row (``signal_<name>`` of
    ``features.raw``: 0 FLAT, 1 LONG, 2 SHORT, 3 HOLD); rows before it is defined read FLAT.

    These are the codes the one-hot observation columns were made from, merged causally and
    warmed up exactly as the model sees them. Raises ConfigError when the feature set has no
    such column (the strategy is not in ``features.strategies``).
    """
    column = f"signal_{name}"
    if features.raw is None or column not in features.raw_names:
        raise ConfigError(f"strategy {name!r} has no signal codes in the feature set ({column})")
    codes = features.raw[:, features.raw_names.index(column)]
    return np.where(codes == UNDEFINED, FLAT, codes).astype(np.int8)


def prior_exposure(features: FeatureSet) -> np.ndarray:
    """The observed ``prior_exposure`` column (float32, fraction of equity; NaN before it is
    defined): the value the engine reads in ``env.action_mode: residual``. ConfigError when
    the feature set has no prior columns (``features.prior.enabled`` is false)."""
    names = features.spec.feature_names
    if EXPOSURE_COLUMN not in names:
        raise ConfigError(
            f"policy {PRIOR_RULE!r} needs the prior's columns: set features.prior.enabled=true"
        )
    return features.features[:, names.index(EXPOSURE_COLUMN)]
