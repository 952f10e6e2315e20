"""The split engine against the frozen pre-split kernel (tests/env/legacy_engine.py).

Both kernels step 64 envs for thousands of bars on the same prices, features, random actions
and episode starts; with the newer options at their defaults, the live engine must give
bit-identical state, ledger, observations, rewards and dones (the columns the legacy kernel
knows: new state and ledger columns are appended after them).
"""

import numpy as np
import pytest

from btcrl.config.env import EnvConfig
from btcrl.env import engine
from btcrl.env.layout import N_ISTATE, N_LEDGER, N_STATE
from btcrl.env.params import engine_params

from . import legacy_engine, legacy_layout
from .helpers import price_feature_set

N_ENVS = 64
N_STEPS = 3000

CONFIGS = {
    "default": {"episode_length": 200},
    "short_lev3_tight_stops": {
        "episode_length": 150,
        "leverage_limit": 3.0,
        "max_position_btc": 5.0,
        "exposure_deadzone": 0.0,
        "min_stop_pct": 0.002,
        "max_stop_pct": 0.02,
        "reward": "asymmetric_drawdown",
    },
    "bankrupt_lev10": {
        "episode_length": 300,
        "leverage_limit": 10.0,
        "max_position_btc": 100.0,
        "fee_rate": 0.02,
        "slippage_bps": 50.0,
        "min_stop_pct": 0.5,
        "max_stop_pct": 0.9,
        "reward": "differential_sharpe",
    },
    "long_only_no_close": {
        "episode_length": 100,
        "allow_short": False,
        "force_close_at_end": False,
        "reward_scale": 7.5,
        "exposure_deadzone": 0.2,
    },
}


def _synthetic_prices(n_rows: int, seed: int) -> np.ndarray:
    """A volatile random walk (3 % per bar) with gaps between close and next open."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n_rows)))
    open_ = np.empty(n_rows)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.01, n_rows - 1))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n_rows)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n_rows)))
    return np.column_stack([open_, high, low, close])


class _Kernel:
    """One kernel's caller-owned buffers."""

    def __init__(self, n_state: int, n_ledger: int, size: int) -> None:
        self.state = np.zeros((N_ENVS, n_state))
        self.istate = np.zeros((N_ENVS, N_ISTATE), dtype=np.int64)
        self.ledger = np.zeros((N_ENVS, n_ledger))
        self.obs = np.zeros((N_ENVS, size), dtype=np.float32)
        self.term_obs = np.zeros((N_ENVS, size), dtype=np.float32)
        self.rewards = np.zeros(N_ENVS, dtype=np.float32)
        self.dones = np.zeros(N_ENVS, dtype=np.bool_)


def _run(name: str, overrides: dict, parallel: bool, n_steps: int = N_STEPS) -> dict[str, float]:
    # the pre-split kernel has no carry and always a position cap (its default was 1 BTC;
    # btcrl's default is now no cap); shorts on unless a config turns them off
    pre_split = {"allow_short": True, "borrow_rate_annual": 0.0, "max_position_btc": 1.0}
    config = EnvConfig(**{**pre_split, **overrides})
    features = price_feature_set(_synthetic_prices(n_steps + 400, seed=len(name)))
    prices = features.prices
    values = np.random.default_rng(1).normal(size=(len(features), 3)).astype(np.float32)
    rng = np.random.default_rng(2)
    last_start = len(features) - 1 - config.episode_length
    params = engine_params(config, config.episode_length, auto_reset=True)
    new = _Kernel(N_STATE, N_LEDGER, values.shape[1] + 2)
    old = _Kernel(legacy_layout.N_STATE, legacy_layout.N_LEDGER, values.shape[1] + 2)
    starts = rng.integers(0, last_start + 1, N_ENVS)
    mask = np.ones(N_ENVS, dtype=np.bool_)
    engine.reset_envs(mask, starts, values, params, new.state, new.istate, new.obs)
    legacy_engine.reset_envs(mask, starts, values, params, old.state, old.istate, old.obs)
    step = engine.step_envs_parallel if parallel else engine.step_envs
    counts = {"fills": 0.0, "stops": 0.0, "forced": 0.0, "bankrupt": 0.0, "dones": 0.0}
    for _ in range(n_steps):
        actions = rng.uniform(-1.3, 1.3, (N_ENVS, 2)).astype(np.float32)
        actions[rng.random(N_ENVS) < 0.3, 0] = 0.0  # flat often, so positions open again
        actions[rng.random(N_ENVS) < 0.01, 0] = np.nan
        next_start = rng.integers(0, last_start + 1, N_ENVS)
        for kernel, fn in ((new, step), (old, legacy_engine.step_envs)):
            fn(
                prices, values, actions, params, next_start, kernel.state, kernel.istate,
                kernel.ledger, kernel.obs, kernel.term_obs, kernel.rewards, kernel.dones,
            )  # fmt: skip
        k_state, k_ledger = old.state.shape[1], old.ledger.shape[1]
        np.testing.assert_array_equal(new.ledger[:, :k_ledger], old.ledger, err_msg=name)
        np.testing.assert_array_equal(new.state[:, :k_state], old.state, err_msg=name)
        np.testing.assert_array_equal(new.istate, old.istate, err_msg=name)
        np.testing.assert_array_equal(new.obs, old.obs, err_msg=name)
        np.testing.assert_array_equal(new.rewards, old.rewards, err_msg=name)
        np.testing.assert_array_equal(new.dones, old.dones, err_msg=name)
        done = old.dones
        np.testing.assert_array_equal(new.term_obs[done], old.term_obs[done], err_msg=name)
        counts["fills"] += np.count_nonzero(old.ledger[:, legacy_layout.L_FILL_QTY])
        counts["stops"] += old.ledger[:, legacy_layout.L_STOP_HIT].sum()
        counts["forced"] += old.ledger[:, legacy_layout.L_FORCED].sum()
        counts["bankrupt"] += old.ledger[:, legacy_layout.L_BANKRUPT].sum()
        counts["dones"] += done.sum()
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_live_engine_is_bit_identical_to_the_pre_split_kernel(name: str) -> None:
    counts = _run(name, CONFIGS[name], parallel=name == "default")
    # the comparison set exercises every path it claims to
    assert counts["fills"] > 10_000
    if name != "bankrupt_lev10":  # stops 50-90 % away: it goes bankrupt instead
        assert counts["stops"] > 100
    assert counts["dones"] > 500
    if CONFIGS[name].get("force_close_at_end", True):
        assert counts["forced"] > 100
    if name == "bankrupt_lev10":
        assert counts["bankrupt"] > 10


def test_live_engine_is_bit_identical_quick() -> None:
    """The default run's share of the comparison (the slow test above runs all of it)."""
    counts = _run("short_lev3_tight_stops", CONFIGS["short_lev3_tight_stops"], False, 600)
    assert counts["fills"] > 1000 and counts["stops"] > 20 and counts["forced"] > 20
