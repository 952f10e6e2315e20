"""Run a deterministic policy over a whole span and score it (the ``val/*`` metrics)."""

import logging

import numpy as np

from btcrl.config import EnvConfig
from btcrl.features.spec import FeatureSet
from btcrl.metrics import (
    PERFORMANCE_KEYS,
    behaviour_metrics,
    performance_metrics,
    sharpe_annualised,
)
from btcrl.metrics.stats import probabilistic_sharpe_ratio
from btcrl.policy.act import ActFn, DeterministicAct
from btcrl.policy.episode import StepPolicy, model_policy
from btcrl.policy.episode import run_episode as run_policy_episode
from btcrl.policy.policies import PRIOR_RULE, ModelPolicy, rule_env, rule_policy

log = logging.getLogger(__name__)

#: every metric a validation logs (``val/<name>``); train.best_metric must be one of them
VALIDATION_METRICS = tuple(
    f"val/{name}"
    for name in (
        *PERFORMANCE_KEYS,
        "trades",
        "exposure",
        "time_in_market",
        "turnover",
        "stop_loss_count",
        "bh_sharpe",
        "excess_sharpe",
        "excess_psr",
        "bh_total_return",
        "bh_max_drawdown",
        "fees",
        "slippage",
        "carry",
        "costs",
        "return_before_costs",
        "fills",
    )
)
#: the prior's figures and the excess over it (issue 21), logged when the feature set
#: carries the prior's columns (``features.prior``)
PRIOR_VALIDATION_METRICS = tuple(
    f"val/{name}"
    for name in (
        "prior_total_return",
        "prior_sharpe",
        "prior_max_drawdown",
        "excess_prior_return",
        "excess_prior_sharpe",
        "excess_prior_psr",
    )
)
_COSTS = (("fees", "fee"), ("slippage", "slippage_cost"), ("carry", "borrow_cost"))

_FILL_KINDS = ("fill", "stop_fill", "close_fill")  # ledger prefixes of a bar's fills


def run_episode(features: FeatureSet, config: EnvConfig, act: ActFn) -> dict[str, np.ndarray]:
    """Run ``act`` through the whole span once, mode ``eval``, with the episode runner the
    backtests use (``btcrl.policy.episode.run_episode``: compiled when ``act`` is a
    ``DeterministicAct`` over an MLP actor, TradingEnv stepping otherwise).

    Returns per-bar arrays: ``equity`` (quote currency, starting with the initial balance,
    so one longer than the others), ``position`` (BTC after the bar), ``close`` (the bar's
    close), ``notional`` (|USD| filled in the bar), ``stop_hits``, ``fills`` (orders, stop
    exits and the final forced close filled in the bar), ``trades`` (round trips closed
    in the bar, as the backtest's ``trade_count`` counts them), ``prev_close`` (one value:
    the close before the first bar, its open for the span's first bar; buy-and-hold's start)
    and the bar's costs in USD: ``fees``, ``slippage``, ``carry`` (borrow / funding).
    """
    if isinstance(act, DeterministicAct):
        policy = model_policy(act.policy, act, name="validation")
    else:
        policy = ModelPolicy(act, name="validation")
    return _episode_arrays(features, config, policy)


def _episode_arrays(
    features: FeatureSet, config: EnvConfig, policy: StepPolicy
) -> dict[str, np.ndarray]:
    """``run_episode``'s arrays for any step policy (a model's or a rule's)."""
    episode = run_policy_episode(features, config, policy, mode="eval")
    kinds = [(episode.field(f"{k}_price"), episode.field(f"{k}_qty")) for k in _FILL_KINDS]
    bars = episode.field("bar").astype(np.int64)
    first = int(bars[0]) if len(bars) else features.first_valid
    prev = features.prices[first - 1, 3] if first > 0 else features.prices[first, 0]
    return {
        "prev_close": np.array([prev], np.float64),
        "equity": episode.equity,
        "position": episode.field("position"),
        "close": features.prices[bars, 3],
        "notional": np.asarray(sum(np.abs(price * qty) for price, qty in kinds), np.float64),
        "stop_hits": episode.field("stop_hit"),
        "fills": np.asarray(sum((qty != 0).astype(np.int64) for _, qty in kinds), np.int64),
        "trades": episode.closed_trades(),
        **{name: episode.field(column) for name, column in _COSTS},
    }


def score_episode(episode: dict[str, np.ndarray], periods_per_year: float) -> dict[str, float]:
    """Performance metrics of the equity curve (``total_return``, ``sharpe``, ``max_drawdown``
    <= 0 as a fraction, ...), ``trades`` (closed round trips, the backtest's ``trade_count``),
    ``exposure`` (mean |position x close| / equity, fraction), ``time_in_market`` (fraction
    of bars holding a position), ``turnover`` and ``stop_loss_count``
    (btcrl.metrics, so validation and backtests agree), ``bh_sharpe`` (buy-and-hold's
    annualised Sharpe over the same bars, close to close, no costs), ``excess_sharpe``
    (annualised Sharpe of the per-bar returns minus buy-and-hold's) and the costs as
    fractions of the starting equity: ``fees``, ``slippage``, ``carry``, their sum ``costs``
    and ``return_before_costs`` (``total_return + costs``: what the trades made before
    paying for them; near ``total_return`` with a large ``costs`` means an edge eaten by
    costs, near 0 means no edge)."""
    equity = episode["equity"]
    metrics = {k: float(v) for k, v in performance_metrics(equity, periods_per_year).items()}
    metrics["trades"] = float(episode["trades"].sum())
    if len(episode["position"]):
        behaviour = behaviour_metrics(
            episode["position"],
            episode["close"],
            equity[1:],
            episode["notional"],
            episode["stop_hits"],
            periods_per_year,
        )
        metrics["exposure"] = behaviour["avg_exposure"]
        for key in ("time_in_market", "turnover", "stop_loss_count"):
            metrics[key] = behaviour[key]
    metrics.update(_against_buy_and_hold(episode, periods_per_year))
    metrics.update(_costs(episode))
    metrics["fills"] = float(np.sum(episode.get("fills", np.zeros(0))))
    return metrics


def _costs(episode: dict[str, np.ndarray]) -> dict[str, float]:
    """Fees, slippage, carry, their sum and the return before them, fractions of the start."""
    start = float(episode["equity"][0])
    out = {name: float(np.sum(episode[name])) / start for name, _ in _COSTS}
    out["costs"] = sum(out.values())
    out["return_before_costs"] = float(episode["equity"][-1]) / start - 1.0 + out["costs"]
    return out


def _against_buy_and_hold(
    episode: dict[str, np.ndarray], periods_per_year: float
) -> dict[str, float]:
    """``bh_sharpe``, ``excess_sharpe`` (annualised), ``excess_psr`` (PSR of the per-bar
    excess, N = 1), ``bh_total_return`` and ``bh_max_drawdown`` (fractions, close to close,
    no costs); NaN with fewer than 2 bars."""
    close = episode["close"]
    equity = episode["equity"]
    keys = ("bh_sharpe", "excess_sharpe", "excess_psr", "bh_total_return", "bh_max_drawdown")
    if len(close) < 2 or len(equity) != len(close) + 1:
        return dict.fromkeys(keys, float("nan"))
    bh = close / np.concatenate((episode["prev_close"], close[:-1])) - 1.0
    ours = equity[1:] / equity[:-1] - 1.0
    curve = np.concatenate(([1.0], np.cumprod(1.0 + bh)))
    return {
        "bh_sharpe": sharpe_annualised(bh, periods_per_year),
        "excess_sharpe": sharpe_annualised(ours - bh, periods_per_year),
        "excess_psr": _psr(ours - bh),
        "bh_total_return": float(curve[-1] - 1.0),
        "bh_max_drawdown": float((curve / np.maximum.accumulate(curve) - 1.0).min()),
    }


def _against_prior(
    features: FeatureSet, config: EnvConfig, equity: np.ndarray, periods_per_year: float
) -> dict[str, float]:
    """The prior (``trend_voltarget``) over the same span under the same costs (with the
    rules' stops), and the agent's excess over it: ``prior_total_return``,
    ``prior_sharpe``, ``prior_max_drawdown``, ``excess_prior_return`` (simple difference of
    the total returns), ``excess_prior_sharpe`` (annualised Sharpe of the per-bar return
    differences) and ``excess_prior_psr`` (their PSR, N = 1: one model, nothing selected
    among others here). Empty when the feature set has no prior columns."""
    keys = ("total_return", "sharpe", "max_drawdown")
    if "prior_exposure" not in features.spec.feature_names:
        return {}
    env = rule_env(config)
    prior = _episode_arrays(features, env, rule_policy(PRIOR_RULE, features, env))["equity"]
    perf = performance_metrics(prior, periods_per_year)
    out = {f"prior_{k}": float(perf[k]) for k in keys}
    n = min(len(prior), len(equity))
    ours = equity[1:n] / equity[: n - 1] - 1.0
    theirs = prior[1:n] / prior[: n - 1] - 1.0
    out["excess_prior_return"] = float(equity[-1] / equity[0] - prior[-1] / prior[0])
    out["excess_prior_sharpe"] = sharpe_annualised(ours - theirs, periods_per_year)
    out["excess_prior_psr"] = _psr(ours - theirs)
    return out


def _psr(excess: np.ndarray) -> float:
    """The PSR of per-bar excess returns; NaN when it is undefined (under 3 bars, or an
    excess that is identically 0: a policy that is its benchmark)."""
    if excess.size < 3 or not np.any(excess):
        return float("nan")
    return probabilistic_sharpe_ratio(excess)


def evaluate_policy(
    features: FeatureSet,
    config: EnvConfig,
    act: ActFn | StepPolicy,
    periods_per_year: float,
    prefix: str = "val/",
) -> dict[str, float]:
    """Score ``act`` (an act function, or a step policy such as a seed ensemble's) over the
    whole span of ``features``; keys carry ``prefix``."""
    if hasattr(act, "act"):
        episode = _episode_arrays(features, config, act)  # type: ignore[arg-type]
    else:
        episode = run_episode(features, config, act)  # type: ignore[arg-type]
    metrics = score_episode(episode, periods_per_year)
    metrics.update(_against_prior(features, config, episode["equity"], periods_per_year))
    return {f"{prefix}{key}": value for key, value in metrics.items()}
