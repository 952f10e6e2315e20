"""What a backtest runs, resolved before anything is logged: :class:`BacktestPlan` and
:func:`prepare` (policy, period, data and checks, each in its own module)."""

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from btcrl.backtest.compat import check_model_fits, read_source_tags
from btcrl.backtest.model_source import model_inputs
from btcrl.backtest.overlap import (
    Overlap,
    find_overlaps,
    in_sample_message,
    missing_spans,
    model_spans,
)
from btcrl.backtest.period import load_period_features, resolve_period
from btcrl.config import ExperimentConfig, flatten_config, with_overrides
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.data.timeframes import timeframe_seconds
from btcrl.env.params import first_row
from btcrl.errors import CompatibilityError, ConfigError
from btcrl.features.spec import FeatureSet
from btcrl.policy.episode import StepPolicy, model_policy
from btcrl.policy.policies import PRIOR_RULE, RulePolicy, parse_rule, rule_env, rule_policy
from btcrl.tracking import tags as tag_names

log = logging.getLogger(__name__)

#: ``algo`` of a rule baseline's backtest (its rule is in tag ``btcrl.rule``)
RULE_ALGO = "rule"
#: the config keys a backtest logs as params (config.yaml keeps the whole config): its market
#: and period, the backtest options that change results, and the trading rules in ``env``
BACKTEST_PARAM_KEYS = (
    "seed",
    "data.source",
    "data.exchange",
    "data.symbol",
    "data.timeframe",
    "backtest.model",
    "backtest.policy",
    "backtest.start",
    "backtest.end",
    "backtest.risk_free_rate",
    "backtest.force_close",
    "backtest.strict",
    "backtest.use_model_config",
)
#: ``env`` keys that only shape training (rewards, episodes): not logged by a backtest
TRAINING_ONLY_ENV_KEYS = frozenset(
    {
        "env.episode_length",
        "env.force_close_at_end",  # a backtest uses backtest.force_close
        "env.reward",
        "env.downside_weight",
        "env.dsr_eta",
        "env.reward_scale",
        "env.churn_penalty",
        "env.smooth_penalty",
        "env.drawdown_penalty",
        "env.mode",
    }
)
_ALIAS = re.compile(r"^models:/[^/@]+@(?P<alias>[^/]+)$")


@dataclass
class BacktestPlan:
    """Everything resolved before the episode runs.

    ``algo``: the model's algorithm (``ppo``, ``sac``, ``tqc``), ``rule`` for a rule baseline.
    ``overlaps``: the stretches of the model's training / validation spans the period shares
    (empty for rules and out-of-sample periods); any overlap makes the backtest in-sample.
    """

    label: str
    rule: str | None
    policy: StepPolicy
    features: FeatureSet
    env: EnvConfig
    rule_env: EnvConfig
    features_config: FeaturesConfig
    start: date | None
    end: date | None
    model_uri: str | None = None
    policy_name: str | None = None
    algo: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    model_alias: str | None = None
    source_run_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def start_row(self) -> int:
        """The row of the first decision (its close; the order fills at the next open)."""
        return first_row(self.features, self.env.window)

    @property
    def first_bar(self) -> pd.Timestamp:
        """The first bar traded and marked: the one after the first decision."""
        return pd.Timestamp(int(self.features.times[self.start_row + 1]), tz="UTC")

    @property
    def last_bar(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.features.times[-1]), tz="UTC")

    @property
    def period_text(self) -> str:
        return f"{self.first_bar:%Y-%m-%d}..{self.last_bar:%Y-%m-%d}"

    @property
    def in_sample(self) -> bool:
        """True when the period shares bars with the model's training or validation span."""
        return bool(self.overlaps)

    @property
    def title(self) -> str:
        """The label as plots and summaries show it, marked when the backtest is in-sample."""
        return f"{self.label} [IN-SAMPLE]" if self.in_sample else self.label

    @property
    def bars_expected(self) -> int:
        """Steps a gap-free grid would have between the first and the last bar."""
        span = int(self.features.times[-1] - self.features.times[self.start_row])
        return span // (timeframe_seconds(self.features.spec.timeframe) * 1_000_000_000)

    def tags(self) -> dict[str, str]:
        """MLflow tags: algo, model URI, name, version, alias, source run, data, in-sample."""
        spec = self.features.spec
        tags = {
            tag_names.POLICY: self.label,
            tag_names.DATA_HASH: spec.data_hash,
            tag_names.SPEC_HASH: spec.spec_hash,
            tag_names.SYMBOL: spec.symbol,
            tag_names.EXCHANGE: spec.exchange,
            tag_names.TIMEFRAME: spec.timeframe,
            tag_names.BACKTEST_START: self.first_bar.isoformat(),
            tag_names.BACKTEST_END: self.last_bar.isoformat(),
            tag_names.IN_SAMPLE: "true" if self.in_sample else "false",
        }
        optional = {
            tag_names.ALGO: self.algo,
            tag_names.MODEL_URI: self.model_uri,
            tag_names.MODEL_NAME: self.model_name,
            tag_names.MODEL_VERSION: self.model_version,
            tag_names.MODEL_ALIAS: self.model_alias,
            tag_names.SOURCE_RUN_ID: self.source_run_id,
            tag_names.RULE: self.policy_name,
        }
        tags.update({k: str(v) for k, v in optional.items() if v is not None})
        return tags

    def run_metadata(
        self, steps: int, periods_per_year: float, config: ExperimentConfig
    ) -> dict[str, Any]:
        """The ``run`` group of metrics.json (``steps``: the episode's steps)."""
        return {
            **self.tags(),
            "label": self.label,
            "first_bar": self.first_bar.isoformat(),
            "last_bar": self.last_bar.isoformat(),
            "steps": steps,
            "periods_per_year": periods_per_year,
            "risk_free_rate": config.backtest.risk_free_rate,
            "initial_balance": self.env.initial_balance,
            "fee_rate": self.env.fee_rate,
            "slippage_bps": self.env.slippage_bps,
            "borrow_rate_annual": self.env.borrow_rate_annual,
            "force_close": config.backtest.force_close,
            "in_sample": self.in_sample,
            "overlaps": [o.describe() for o in self.overlaps],
            "warnings": list(self.warnings),
        }

    def logged_config(self, config: ExperimentConfig) -> ExperimentConfig:
        """The config that reproduces this backtest (``btcrl backtest --config`` it)."""
        start = self.start.isoformat() if self.start else None
        end = self.end.isoformat() if self.end else None
        values: dict[str, Any] = {
            "backtest.model": self.model_uri,
            "backtest.policy": self.policy_name,
            "backtest.start": start,
            "backtest.end": end,
            "data.start": start,
            "data.end": end,
        }
        if self.model_uri is not None and config.backtest.use_model_config:
            values["features"] = self.features_config.model_dump(mode="json")
            values["env"] = self.env.model_dump(mode="json")
        return with_overrides(config, values)

    def logged_params(self, config: ExperimentConfig) -> dict[str, str]:
        """The params that apply to this backtest (:data:`BACKTEST_PARAM_KEYS` and the
        trading rules of ``env``), flattened from :meth:`logged_config`; the whole config
        goes to ``config.yaml``."""
        flat = flatten_config(self.logged_config(config))
        return {
            key: value
            for key, value in flat.items()
            if key in BACKTEST_PARAM_KEYS
            or (key.startswith("env.") and key not in TRAINING_ONLY_ENV_KEYS)
        }


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def choose_policy(
    config: ExperimentConfig, model_uri: str | None, policy: str | None
) -> tuple[str | None, str | None]:
    """(model URI, rule): the arguments, else ``backtest.model/policy``; exactly one of them.

    Raises ConfigError naming both when both are given, or when neither is.
    """
    model_uri = _blank(model_uri) or _blank(config.backtest.model)
    policy = _blank(policy) or _blank(config.backtest.policy)
    if model_uri and policy:
        raise ConfigError(
            f"give a model or a policy, not both (model {model_uri!r}, policy {policy!r})"
        )
    if not model_uri and not policy:
        raise ConfigError(
            "nothing to backtest: give --model URI or --policy "
            "buy_and_hold|flat|trend_voltarget|strategy:NAME"
        )
    return model_uri, policy


def prepare(
    config: ExperimentConfig, *, model_uri: str | None = None, policy: str | None = None
) -> BacktestPlan:
    """Resolve the policy, load the period's features and run the compatibility and overlap
    checks (raising before any result exists). A model URI resolves in the tracking store
    the caller configured (``btcrl.tracking.configure_tracking``)."""
    model_uri, policy = choose_policy(config, model_uri, policy)
    start, end = resolve_period(config)
    if model_uri:
        loaded, features_config, env = model_inputs(config, model_uri)
    else:
        loaded, features_config, env = None, config.features, config.env
        rule, strategy = parse_rule(policy or "")
        if rule == PRIOR_RULE and not features_config.prior.enabled:
            prior = features_config.prior.model_copy(update={"enabled": True})
            features_config = features_config.model_copy(update={"prior": prior})
        if strategy and strategy not in features_config.strategies:
            features_config = features_config.model_copy(
                update={"strategies": (*features_config.strategies, strategy)}
            )
    fitted = loaded.spec.fitted if loaded is not None else ()  # the model's params: no refit
    fs = load_period_features(config, features_config, start, end, fitted, env)
    plan = BacktestPlan(
        label=policy or "",
        rule=None,
        policy=RulePolicy("flat", np.zeros(len(fs), np.float32)),
        features=fs,
        env=env,
        rule_env=rule_env(env),
        features_config=features_config,
        start=start,
        end=end,
    )
    if loaded is not None:
        match = _ALIAS.match(model_uri or "")
        plan.model_alias = match["alias"] if match else None
        attach_model(plan, loaded, model_uri or "", config.backtest.strict)
        plan.algo = loaded.config.agent.algo
    else:
        _attach_rule(plan, policy or "")
    for message in plan.warnings:  # the in-sample one is the summary's first line already
        level = logging.INFO if message.startswith("IN-SAMPLE") else logging.WARNING
        log.log(level, "%s", message)
    return plan


def _attach_rule(plan: BacktestPlan, policy: str) -> None:
    """Make ``plan`` trade the rule baseline ``policy`` (with the rules' wide stops)."""
    plan.policy = rule_policy(policy, plan.features, plan.env)
    plan.rule = parse_rule(policy)[0]
    plan.policy_name = policy
    plan.algo = RULE_ALGO
    plan.env = plan.rule_env


def attach_model(plan: BacktestPlan, loaded: Any, model_uri: str, strict: bool) -> None:
    """Make ``plan`` trade ``loaded``: check it fits the data (CompatibilityError at the
    first difference), record its name, version and source run, run it compiled when its
    actor matches ``predict()`` (``episode.model_policy``), and check the period for
    overlap (below)."""
    plan.warnings += check_model_fits(loaded, plan.features.spec)
    plan.model_uri = model_uri
    plan.model_name = loaded.model_name
    plan.model_version = loaded.model_version
    plan.source_run_id = loaded.source_run_id
    plan.policy = model_policy(loaded.model.policy, loaded.predict, name=model_uri or "model")
    version = f" v{loaded.model_version}" if loaded.model_version is not None else ""
    plan.label = f"{loaded.model_name or model_uri}{version}"
    check_overlap(plan, loaded, strict)


def check_overlap(plan: BacktestPlan, loaded: Any, strict: bool) -> None:
    """Set ``plan.overlaps`` to the stretches of the model's training and validation spans
    the period shares (an in-sample backtest, with a warning); CompatibilityError instead
    under ``strict``. No span known: a warning that the check could not be made."""
    spans = model_spans(
        read_source_tags(plan.source_run_id), loaded.spec.first_bar, loaded.spec.last_bar
    )
    if missing_spans(spans) == ["train", "validation"]:
        plan.warnings.append(
            f"cannot check overlap with training: model {plan.model_uri} names no training span"
        )
        return
    plan.overlaps = find_overlaps(plan.first_bar, plan.last_bar, spans)
    if not plan.overlaps:
        return
    message = in_sample_message(plan.period_text, plan.overlaps)
    if strict:
        raise CompatibilityError(f"{message} (strict: pick a period after training)")
    plan.warnings.append(f"{message}: its results are not out of sample")
