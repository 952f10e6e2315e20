"""Resolve what a backtest runs: policy, period, data, checks (before anything is logged)."""

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from btcrl.backtest.compat import check_model_fits, read_source_tags
from btcrl.backtest.episode import StepPolicy
from btcrl.backtest.fast_policy import fast_predict
from btcrl.backtest.overlap import Overlap, find_overlaps, missing_spans
from btcrl.backtest.policies import (
    RULE_STOP_PCT,
    ModelPolicy,
    RulePolicy,
    decode_onehot,
    parse_rule,
    rule_targets,
)
from btcrl.config import ExperimentConfig, with_overrides
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.data.timeframes import timeframe_seconds
from btcrl.errors import CompatibilityError, ConfigError, DataError
from btcrl.features.spec import FeatureSet

log = logging.getLogger(__name__)

OVERLAP_TAG = "btcrl.overlaps_training"
_ALIAS = re.compile(r"^models:/[^/@]+@(?P<alias>[^/]+)$")
MIN_STEPS = 2


@dataclass
class BacktestPlan:
    """Everything resolved before the episode runs."""

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
    model_name: str | None = None
    model_version: int | None = None
    model_alias: str | None = None
    source_run_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def first_bar(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.features.times[self.features.first_valid]), tz="UTC")

    @property
    def last_bar(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.features.times[-1]), tz="UTC")

    @property
    def period_text(self) -> str:
        return f"{self.first_bar:%Y-%m-%d}..{self.last_bar:%Y-%m-%d}"

    @property
    def bars_expected(self) -> int:
        """Steps a gap-free grid would have between the first and the last bar."""
        span = int(self.features.times[-1] - self.features.times[self.features.first_valid])
        return span // (timeframe_seconds(self.features.spec.timeframe) * 1_000_000_000)

    def tags(self) -> dict[str, str]:
        """MLflow tags: model URI, name, version, alias, source run, data, overlap."""
        spec = self.features.spec
        tags = {
            "btcrl.policy": self.label,
            "btcrl.data_hash": spec.data_hash,
            "btcrl.spec_hash": spec.spec_hash,
            "btcrl.symbol": spec.symbol,
            "btcrl.exchange": spec.exchange,
            "btcrl.timeframe": spec.timeframe,
            "btcrl.backtest_start": self.first_bar.isoformat(),
            "btcrl.backtest_end": self.last_bar.isoformat(),
            OVERLAP_TAG: "true" if self.overlaps else "false",
        }
        optional = {
            "btcrl.model_uri": self.model_uri,
            "btcrl.model_name": self.model_name,
            "btcrl.model_version": self.model_version,
            "btcrl.model_alias": self.model_alias,
            "btcrl.source_run_id": self.source_run_id,
            "btcrl.rule": self.policy_name,
        }
        tags.update({k: str(v) for k, v in optional.items() if v is not None})
        return tags

    def run_metadata(
        self, steps: pd.DataFrame, periods_per_year: float, config: ExperimentConfig
    ) -> dict[str, Any]:
        """The ``run`` group of metrics.json."""
        return {
            **self.tags(),
            "label": self.label,
            "first_bar": self.first_bar.isoformat(),
            "last_bar": self.last_bar.isoformat(),
            "steps": len(steps),
            "periods_per_year": periods_per_year,
            "risk_free_rate": config.backtest.risk_free_rate,
            "initial_balance": self.env.initial_balance,
            "fee_rate": self.env.fee_rate,
            "slippage_bps": self.env.slippage_bps,
            "force_close": config.backtest.force_close,
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


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def resolve_period(config: ExperimentConfig) -> tuple[date | None, date | None]:
    """``backtest.start/end``, else ``data.start/end``; ConfigError when end < start."""
    start = config.backtest.start or config.data.start
    end = config.backtest.end or config.data.end
    if start and end and end < start:
        raise ConfigError(f"backtest end {end} is before its start {start}")
    return start, end


def prepare(
    config: ExperimentConfig, *, model_uri: str | None = None, policy: str | None = None
) -> BacktestPlan:
    """Resolve the policy, load the period's features and run the compatibility and overlap
    checks (raising before any result exists)."""
    model_uri = _blank(model_uri) or _blank(config.backtest.model)
    policy = _blank(policy) or _blank(config.backtest.policy)
    if model_uri and policy:
        raise ConfigError(
            f"give a model or a policy, not both (model {model_uri!r}, policy {policy!r})"
        )
    if not model_uri and not policy:
        raise ConfigError(
            "nothing to backtest: give --model URI or --policy buy_and_hold|flat|strategy:NAME"
        )
    start, end = resolve_period(config)
    rule = strategy = None
    loaded = None
    if model_uri:
        from btcrl.policy import load_policy
        from btcrl.tracking import configure_tracking

        configure_tracking(config.tracking)  # models:/ and runs:/ resolve in this store
        loaded = load_policy(model_uri)
        use_model = config.backtest.use_model_config
        features_config = loaded.config.features if use_model else config.features
        env = loaded.config.env if use_model else config.env
    else:
        rule, strategy = parse_rule(policy or "")
        features_config = config.features
        if strategy and strategy not in features_config.strategies:
            features_config = features_config.model_copy(
                update={"strategies": (*features_config.strategies, strategy)}
            )
        env = config.env
    rule_env = env.model_copy(update={"min_stop_pct": RULE_STOP_PCT, "max_stop_pct": RULE_STOP_PCT})
    fs = _load_features(config, features_config, start, end)
    plan = BacktestPlan(
        label="",
        rule=rule,
        policy=RulePolicy("flat", np.zeros(len(fs), np.float32)),
        features=fs,
        env=env,
        rule_env=rule_env,
        features_config=features_config,
        start=start,
        end=end,
    )
    if loaded is not None:
        plan.warnings += check_model_fits(loaded, fs.spec)
        plan.model_uri = model_uri
        plan.model_name = loaded.model_name
        plan.model_version = loaded.model_version
        match = _ALIAS.match(model_uri or "")
        plan.model_alias = match["alias"] if match else None
        plan.source_run_id = loaded.source_run_id
        model = getattr(loaded, "model", None)
        fast = fast_predict(model, fs.spec.observation_size) if model is not None else None
        plan.policy = ModelPolicy(fast or loaded.predict, name=model_uri or "model")
        version = f" v{loaded.model_version}" if loaded.model_version is not None else ""
        plan.label = f"{loaded.model_name or model_uri}{version}"
        _check_overlap(plan, loaded, config.backtest.strict)
    else:
        plan.policy_name = policy
        plan.label = policy or ""
        plan.env = rule_env
        signals = _strategy_codes(fs, strategy) if strategy else None
        plan.policy = RulePolicy(
            plan.label,
            rule_targets(rule or "", len(fs), signals, env.allow_short, env.leverage_limit),
        )
    for message in plan.warnings:
        log.warning("%s", message)
    return plan


def _load_features(
    config: ExperimentConfig, features: FeaturesConfig, start: date | None, end: date | None
) -> FeatureSet:
    from btcrl.features import load_feature_set

    data = config.data.model_copy(update={"start": start, "end": end})
    fs = load_feature_set(data, features)
    usable = len(fs) - 1 - fs.first_valid
    if usable < MIN_STEPS:
        raise DataError(
            f"backtest period {start or 'start'}..{end or 'end'} has {max(usable + 1, 0)} usable "
            f"bars of {data.symbol} {data.timeframe} after warm-up; need at least {MIN_STEPS + 1}"
        )
    return fs


def _strategy_codes(fs: FeatureSet, name: str) -> np.ndarray:
    names = fs.spec.feature_names
    wanted = [f"{name}_{label}" for label in ("flat", "long", "short", "hold")]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise ConfigError(
            f"strategy {name!r} has no signal columns in the feature set ({missing[0]})"
        )
    cols = [names.index(w) for w in wanted]
    return decode_onehot(fs.features[:, cols])


def _check_overlap(plan: BacktestPlan, loaded: Any, strict: bool) -> None:
    tags = read_source_tags(plan.source_run_id)
    spans = dict(tags)
    if missing_spans(spans) and loaded.spec.first_bar and loaded.spec.last_bar:
        # no split tags: fall back on the span of the data the model's spec was built on
        spans.setdefault("btcrl.train_start", loaded.spec.first_bar)
        spans.setdefault("btcrl.train_end", loaded.spec.last_bar)
    if missing_spans(spans) == ["train", "validation"]:
        plan.warnings.append(
            f"cannot check overlap with training: model {plan.model_uri} names no training span"
        )
        return
    plan.overlaps = find_overlaps(plan.first_bar, plan.last_bar, spans)
    if not plan.overlaps:
        return
    text = "; ".join(o.describe() for o in plan.overlaps)
    message = f"backtest period {plan.period_text} overlaps the model's {text}"
    if strict:
        raise CompatibilityError(f"{message} (strict: pick a period after training)")
    plan.warnings.append(f"{message}: results are in-sample there")
