"""A registry or run model as a backtest's policy: load it, fit it to the data, and check
the period against the spans it was trained and validated on."""

from typing import TYPE_CHECKING, Any

from btcrl.backtest.compat import check_model_fits, read_source_tags
from btcrl.backtest.overlap import find_overlaps, in_sample_message, missing_spans, model_spans
from btcrl.config import ExperimentConfig
from btcrl.config.env import EnvConfig
from btcrl.config.features import FeaturesConfig
from btcrl.errors import CompatibilityError
from btcrl.policy.episode import model_policy

if TYPE_CHECKING:
    from btcrl.backtest.plan import BacktestPlan


def model_inputs(config: ExperimentConfig, model_uri: str) -> tuple[Any, FeaturesConfig, EnvConfig]:
    """(loaded model, features config, env config) for ``model_uri``: the model's own
    features and trading rules with ``backtest.use_model_config``, else ``config``'s."""
    from btcrl.policy import load_policy

    loaded = load_policy(model_uri)
    if config.backtest.use_model_config:
        return loaded, loaded.config.features, loaded.config.env
    window = {"window": loaded.config.env.window}  # the model's input: not a trading rule
    return loaded, config.features, config.env.model_copy(update=window)


def attach_model(plan: "BacktestPlan", loaded: Any, model_uri: str, strict: bool) -> None:
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


def check_overlap(plan: "BacktestPlan", loaded: Any, strict: bool) -> None:
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
