"""What a train run is called and tagged with, and which params apply to it."""

from datetime import UTC, datetime

from btcrl.agents.algos import agent_fields
from btcrl.agents.split import TimeSplit
from btcrl.config import ExperimentConfig, flatten_config
from btcrl.features.spec import FeatureSet, FeatureSpec
from btcrl.tracking import tags

#: config sections a train run logs as params (backtest, tune, tracking stay in config.yaml)
TRAIN_SECTIONS = ("seed", "data", "features", "env", "train", "agent")


def model_name(config: ExperimentConfig) -> str:
    """Registry name: ``train.model_name`` or ``btcrl-<algo>``."""
    return config.train.model_name or f"btcrl-{config.agent.algo}"


def logged_model_name(config: ExperimentConfig, prefix: str = "") -> str:
    """The logged model's name: ``[<prefix's first part>-]<registry name>-s<seed>``, e.g.
    ``btcrl-ppo-s42``, ``seg3-btcrl-ppo-s42`` (walk-forward segment 3), ``t7-btcrl-ppo-s42``
    (tune trial 7), so that an experiment's models tab tells them apart."""
    head = prefix.split("-", 1)[0]
    return "-".join(part for part in (head, model_name(config), f"s{config.seed}") if part)


def run_name(
    config: ExperimentConfig, spec: FeatureSpec, now: datetime | None = None, prefix: str = ""
) -> str:
    """What differs between runs first: ``[prefix-]s42-1121T1530-ppo-BTCUSDT-1h`` (seed, UTC
    month, day, hour and minute of the start, algo, market), so the UI's cut names differ."""
    symbol = "".join(ch for ch in spec.symbol if ch.isalnum())
    stamp = (now or datetime.now(UTC)).strftime("%m%dT%H%M")
    name = f"s{config.seed}-{stamp}-{config.agent.algo}-{symbol}-{spec.timeframe}"
    return f"{prefix}-{name}" if prefix else name


def train_run_tags(
    config: ExperimentConfig, features: FeatureSet, split: TimeSplit
) -> dict[str, str]:
    """The source-run tags later backtests and registry versions rely on (docs/internals.md);
    market and data hash as the FeatureSet's spec records them."""
    spec = features.spec
    return {
        tags.DATA_HASH: spec.data_hash,
        tags.ALGO: config.agent.algo,
        tags.SOURCE: config.data.source,
        tags.SYMBOL: spec.symbol,
        tags.EXCHANGE: spec.exchange,
        tags.TIMEFRAME: spec.timeframe,
        **split.tags(),
    }


def run_params(config: ExperimentConfig) -> dict[str, str]:
    """The params that apply to this run: the train sections, and of ``agent`` only the
    fields ``agent.algo`` uses (a PPO run logs no ``buffer_size``)."""
    used = {f"agent.{name}" for name in agent_fields(config.agent.algo)}
    return {
        key: value
        for key, value in flatten_config(config).items()
        if key.split(".")[0] in TRAIN_SECTIONS and (not key.startswith("agent.") or key in used)
    }
