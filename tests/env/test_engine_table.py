"""The engine-parameter table (btcrl.env.params.ENGINE_TABLE) held against EnvConfig and the
layout: every config field is packed or declared host-side, every slot has one owner, and
each table entry moves its own slot and no other."""

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import layout
from btcrl.env.params import CALL_SLOTS, ENGINE_TABLE, HOST_FIELDS, engine_params

#: a valid value per packed field, other than the default (so the slot must change)
CHANGED: dict[str, object] = {
    "initial_balance": 25_000.0,
    "leverage_limit": 3.0,
    "max_position_btc": 4.0,
    "exposure_deadzone": 0.2,
    "fee_rate": 0.004,
    "slippage_bps": 17.0,
    "min_stop_pct": 0.03,
    "max_stop_pct": 0.3,
    "allow_short": True,
    "reward": "differential_sharpe",
    "downside_weight": 5.0,
    "dsr_eta": 0.2,
    "reward_scale": 3.0,
    "force_close_at_end": False,
    "churn_penalty": 0.5,
    "smooth_penalty": 0.25,
    "drawdown_penalty": 0.125,
    "target_volatility": 0.6,
    "vol_window": 48,
    "max_leverage": 4.0,
    "vol_floor": 0.2,
    "borrow_rate_annual": 0.2,
    "hysteresis_bars": 3,
    "decision_interval": 4,
    "observation_account": "scale_free",
    "action_levels": [0.0, 0.5, 1.0],
    "action_mode": "residual",
    "residual_limit": 0.75,
}


def test_every_config_field_is_packed_or_host_side() -> None:
    fields = set(EnvConfig.model_fields)
    packed, host = set(ENGINE_TABLE), set(HOST_FIELDS)
    assert not packed & host, f"both packed and host-side: {sorted(packed & host)}"
    assert fields - packed - host == set(), "EnvConfig fields neither packed nor host-side"
    assert (packed | host) - fields == set(), "table names that EnvConfig lacks"


def _slots(field: str) -> range:
    slot, _ = ENGINE_TABLE[field]
    width = 1 + layout.MAX_ACTION_LEVELS if field == "action_levels" else 1
    return range(slot, slot + width)


def test_every_slot_has_exactly_one_owner() -> None:
    owned = [i for field in ENGINE_TABLE for i in _slots(field)] + list(CALL_SLOTS)
    assert sorted(owned) == list(range(layout.N_PARAMS))
    assert layout.P_LEVELS == layout.P_N_LEVELS + 1  # _levels writes the count, then levels


@pytest.mark.parametrize("field", sorted(ENGINE_TABLE))
def test_each_field_moves_its_own_slots_only(field: str) -> None:
    base = engine_params(EnvConfig(), 100, False)
    changed = engine_params(EnvConfig(**{field: CHANGED[field]}), 100, False)
    moved = set(np.flatnonzero(base != changed).tolist())
    assert moved, f"{field} moved no slot"
    assert moved <= set(_slots(field)), f"{field} moved slots {sorted(moved)}"


def test_call_slots_come_from_the_arguments() -> None:
    params = engine_params(EnvConfig(), 321, True, timeframe="4h", first_row=17)
    assert params[layout.P_EPISODE_STEPS] == 321
    assert params[layout.P_AUTO_RESET] == 1.0
    assert params[layout.P_BARS_PER_YEAR] == 365 * 6
    assert params[layout.P_FIRST_ROW] == 17
    assert params[layout.P_BAR_SECONDS] == 4 * 3600
    assert params[layout.P_SLIPPAGE] == EnvConfig().slippage_bps / 10_000.0
