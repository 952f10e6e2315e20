"""Settings a resumed study must share with the run that made it, flattened so that a
mismatch can name what differs; used by ``tune`` and ``walkforward`` alike."""

import json
from collections.abc import Mapping
from typing import Any


def flat_settings(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{"agent": {"learning_rate": 3e-4}}`` -> ``{"agent.learning_rate": "0.0003"}``."""
    out: dict[str, str] = {}
    for section, values in sections.items():
        for key, value in values.items():
            out[f"{section}.{key}"] = json.dumps(value, sort_keys=True)
    return out


def settings_differences(theirs: Mapping[str, str], mine: Mapping[str, str]) -> str:
    """``key=their value (now mine)`` for each setting that differs, at most three."""
    keys = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
    shown = [f"{k}={theirs.get(k, 'unset')} (now {mine.get(k, 'unset')})" for k in keys[:3]]
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(shown) + more
