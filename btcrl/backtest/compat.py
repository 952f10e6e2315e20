"""Does a loaded model fit the data it is asked to trade? (FeatureSpec and model spaces.)"""

import logging
from typing import Any

from btcrl.encoder.columns import windowed_input_size
from btcrl.env.params import observation_size
from btcrl.errors import CompatibilityError
from btcrl.features.spec import ACTION_NAMES, FeatureSpec

log = logging.getLogger(__name__)


def check_model_fits(loaded: Any, data_spec: FeatureSpec) -> list[str]:
    """Raise CompatibilityError at the first difference between the model's FeatureSpec and
    the data's (timeframe, indicators, external series, strategies and their order, every
    observed column with its normalisation, observation and action sizes), or between the
    model's own input / output sizes and the data's; return warnings (another symbol or
    exchange) for the caller to log."""
    spec: FeatureSpec = loaded.spec
    warnings = spec.check_compatible(data_spec)
    model = getattr(loaded, "model", None)
    window = loaded.config.env.window if hasattr(loaded, "config") else 1
    checks = (
        ("observation size", "observation_space", observation_size(data_spec, window)),
        ("action size", "action_space", len(ACTION_NAMES)),
    )
    # an SBX policy reading an encoder's columns takes windows (btcrl.encoder.columns)
    windowed = windowed_input_size(getattr(model, "policy", None))
    for what, attr, expected in checks:
        space = getattr(model, attr, None)
        shape = getattr(space, "shape", None)
        if windowed is not None and attr == "observation_space":
            shape = (windowed,)
        if shape and int(shape[0]) != expected:
            raise CompatibilityError(
                f"{what} differs: model {getattr(loaded, 'model_uri', '')} takes {int(shape[0])}, "
                f"data gives {expected}"
            )
    return warnings


def read_source_tags(run_id: str | None) -> dict[str, str]:
    """Tags of the model's source run ({} when there is none or it cannot be read)."""
    from btcrl.tracking.lookup import run_tags

    return run_tags(run_id)
