"""Hand-computed scenarios for the engine options of issue 17: vol-targeted sizing, carrying
costs, hysteresis, decision interval, discrete action levels, scale-free account observation,
shaping terms."""

import math

import pytest

from .test_engine import BAL, FEE, FLAT, SLIP, act, make_env

E = math.exp(0.01)
# closes alternate so that every close-to-close log return is +-0.01 (std 0.01 exactly)
ZIGZAG = [(c, c, c, c) for c in (1000.0, 1000.0 * E, 1000.0, 1000.0 * E, 1000.0)]
PER_BAR_TO_ANNUAL = math.sqrt(8760.0)  # 1h bars


def test_vol_target_scales_the_target_by_target_over_realised_vol() -> None:
    # window 4 at t=4: returns +.01 -.01 +.01 -.01, mean 0, std 0.01; target 0.005 per bar
    env = make_env([*ZIGZAG, FLAT, FLAT], target_volatility=0.005 * PER_BAR_TO_ANNUAL, vol_window=4)
    for _ in range(4):
        act(env, 0.0)
    _, _, _, _, info = act(env, 1.0)
    assert info["bar"] == 5
    assert info["vol_scale"] == pytest.approx(0.5)
    assert info["fill_qty"] == pytest.approx(0.5 * BAL / 1000.0)  # 5 BTC instead of 10
    assert info["target_exposure"] == 1.0


def test_vol_target_is_capped_at_max_leverage_and_floored() -> None:
    # realised 0.01 per bar, target 0.05 per bar -> 5x, capped at max_leverage 1.5
    env = make_env(
        [*ZIGZAG, FLAT, FLAT],
        target_volatility=0.05 * PER_BAR_TO_ANNUAL,
        vol_window=4,
        max_leverage=1.5,
    )
    for _ in range(4):
        act(env, 0.0)
    _, _, _, _, info = act(env, -1.0)
    assert info["vol_scale"] == pytest.approx(1.5)
    assert info["fill_qty"] == pytest.approx(-1.5 * BAL / 1000.0)
    # on flat closes the realised vol is 0: the floor (annualised 0.5) sets the scale
    env = make_env([FLAT] * 4, target_volatility=0.25, vol_floor=0.5, max_leverage=3.0)
    _, _, _, _, info = act(env, 0.0)
    assert info["vol_scale"] == pytest.approx(0.5)


def test_vol_target_reads_only_bars_closed_before_the_fill() -> None:
    rows = [*ZIGZAG, FLAT, FLAT]
    shocked = [*ZIGZAG, (1000.0, 1000.0, 500.0, 600.0), FLAT]  # the fill bar's own close
    scales = []
    for candles in (rows, shocked):
        env = make_env(candles, target_volatility=0.005 * PER_BAR_TO_ANNUAL, vol_window=4)
        for _ in range(4):
            act(env, 0.0)
        scales.append(act(env, 1.0)[4]["vol_scale"])
    assert scales[0] == scales[1] == pytest.approx(0.5)


def test_vol_target_off_records_scale_one() -> None:
    env = make_env([FLAT, FLAT, FLAT])
    assert act(env, 0.5)[4]["vol_scale"] == 1.0


RATE = 0.0876  # per 1h bar: 0.0876 / 8760 = 1e-5


def test_borrow_cost_on_a_short() -> None:
    env = make_env([FLAT, FLAT, FLAT], borrow_rate_annual=RATE)
    _, _, _, _, info = act(env, -0.5)
    price = 1000.0 * (1 - SLIP)
    cash = BAL + 5.0 * price - FEE * 5.0 * price
    borrow = 5.0 * 1000.0 * 1e-5
    assert info["borrow_cost"] == pytest.approx(borrow, rel=1e-12)
    assert info["cash"] == pytest.approx(cash - borrow, rel=1e-12)
    assert info["equity"] == pytest.approx(cash - borrow - 5.0 * 1000.0, rel=1e-12)


def test_borrow_cost_on_the_leveraged_part_of_a_long_only() -> None:
    env = make_env([FLAT, FLAT, FLAT], borrow_rate_annual=RATE, leverage_limit=2.0)
    _, _, _, _, info = act(env, 1.0)  # 20 BTC at 1001 with 10,000 of equity
    borrowed = 20.0 * 1001.0 + FEE * 20.0 * 1001.0 - BAL
    assert info["borrow_cost"] == pytest.approx(borrowed * 1e-5, rel=1e-12)
    env = make_env([FLAT, FLAT, FLAT], borrow_rate_annual=RATE)
    assert act(env, 0.9)[4]["borrow_cost"] == 0.0  # cash stays positive: nothing borrowed


def test_costs_in_the_ledger_give_pnl_before_costs() -> None:
    rows = [FLAT, (1000.0, 1000.0, 1000.0, 1020.0), (1030.0, 1030.0, 1030.0, 1030.0), FLAT]
    env = make_env(rows, borrow_rate_annual=RATE, leverage_limit=2.0)
    equity, before = BAL, []
    for a_pos in (1.0, 0.0):
        info = act(env, a_pos)[4]
        costs = info["fee"] + info["slippage_cost"] + info["borrow_cost"]
        before.append(info["equity"] - equity + costs)
        equity = info["equity"]
    assert info["position"] == 0.0
    # 20 BTC bought at the open of bar 1 (1000), marked at 1020, sold at bar 2's open 1030
    assert before == [pytest.approx(20.0 * 20.0, rel=1e-9), pytest.approx(20.0 * 10.0, rel=1e-9)]


def test_hysteresis_trades_after_the_change_kept_its_sign_k_bars() -> None:
    env = make_env([FLAT] * 10, hysteresis_bars=3)
    fills = [act(env, a)[4]["fill_qty"] for a in (0.5, 0.5, 0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0)]
    # long after 3 bars; 2 bars of "flat" then back to 0.5 (nothing to do: streak reset);
    # then 3 bars of flat close it
    assert fills[:3] == [0.0, 0.0, pytest.approx(5.0)]
    assert fills[3:8] == [0.0] * 5
    assert fills[8] == pytest.approx(-5.0)


def test_decision_interval_holds_the_order_between_decisions() -> None:
    # bars stamped 00:00, 01:00, ...: the first step (bar 01:00) decides, then the bars that
    # open a new 3-hour period of the clock (03:00, 06:00); the others hold
    env = make_env([FLAT] * 8, decision_interval=3)
    infos = [act(env, a)[4] for a in (0.5, 1.0, -1.0, -0.5, 0.5, 0.0)]
    assert [i["fill_qty"] for i in infos] == [
        pytest.approx(5.0), 0.0, pytest.approx(-15.0, rel=1e-2), 0.0, 0.0,
        pytest.approx(10.0, rel=1e-2),
    ]  # fmt: skip
    assert [i["target_exposure"] for i in infos] == [0.5, 0.5, -1.0, -1.0, -1.0, 0.0]
    assert infos[2]["position"] < 0.0


def test_discrete_levels_snap_the_target_to_the_nearest_level() -> None:
    env = make_env([FLAT] * 8, action_levels=[0.0, 0.5, 1.0], allow_short=False)
    infos = [act(env, a)[4] for a in (0.7, 0.8, 0.76, 0.74, -0.9, 0.25)]
    assert [i["target_exposure"] for i in infos] == [0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    # 0.7 -> 5 BTC; 0.8 -> 10 BTC (the 5 BTC at 1000 x 1.001 cost 1 % of equity in fees and
    # slippage, so the target is a little under 10); 0.76 holds; 0.74 halves; -0.9 closes;
    # 0.25 is a tie between flat and 0.5: flat
    qty = [i["fill_qty"] for i in infos]
    assert qty[0] == pytest.approx(5.0)
    assert qty[1] == pytest.approx(infos[1]["position"] - 5.0)
    assert infos[1]["position"] == pytest.approx(
        (infos[0]["cash"] + 5.0 * 1000.0) / 1000.0, rel=1e-12
    )
    assert qty[2] == 0.0 and qty[3] < 0.0 and qty[5] == 0.0
    assert infos[4]["position"] == 0.0


def test_discrete_levels_stop_the_resizing_churn_of_a_continuous_target() -> None:
    swings = [1.0, 0.7] * 4  # a continuous policy wobbling between 0.7 and 1.0
    fills = {}
    for levels in (None, [0.0, 1.0]):
        env = make_env([FLAT] * 10, action_levels=levels, allow_short=False)
        fills[str(levels)] = sum(act(env, a)[4]["fill_qty"] != 0.0 for a in swings)
    assert fills == {"None": 8, "[0.0, 1.0]": 1}


def test_discrete_levels_with_shorts() -> None:
    env = make_env([FLAT] * 4, action_levels=[-1.0, 0.0, 1.0])
    info = act(env, -0.6)[4]
    assert info["target_exposure"] == -1.0
    assert info["fill_qty"] == pytest.approx(-10.0)


@pytest.mark.parametrize(
    ("levels", "allow_short", "message"),
    [
        ([-1.0, 0.0, 1.0], False, "allow_short is false"),
        ([0.0, 1.0, 0.5], False, "strictly ascending"),
        ([0.0, 1.5], False, r"in \[-1, 1\]"),
        ([1.0], False, "2 to 9 levels"),
        ([i / 10 for i in range(10)], False, "2 to 9 levels"),
    ],
)
def test_discrete_levels_config_errors(levels: list, allow_short: bool, message: str) -> None:
    from btcrl.config.env import EnvConfig

    with pytest.raises(ValueError, match=message):
        EnvConfig(action_levels=levels, allow_short=allow_short)


def test_discrete_level_count_matches_the_engine_layout() -> None:
    from btcrl.config.env import MAX_ACTION_LEVELS
    from btcrl.env.layout import MAX_ACTION_LEVELS as ENGINE_MAX

    assert MAX_ACTION_LEVELS == ENGINE_MAX


def test_scale_free_account_observation() -> None:
    rows = [FLAT, (1000.0, 1000.0, 1000.0, 1100.0), FLAT]
    env = make_env(rows, observation_account="scale_free")
    obs0, _ = env.reset()
    assert obs0[0] == 1.0 and obs0[-1] == 0.0
    obs, _, _, _, info = act(env, 0.5)
    equity = info["cash"] + 5.0 * 1100.0
    assert obs[0] == pytest.approx(info["cash"] / equity, rel=1e-6)
    assert obs[-1] == pytest.approx(5.0 * 1100.0 / equity, rel=1e-6)
    env = make_env(rows, observation_account="scale_free")
    obs, _, _, _, info = act(env, -0.5)
    assert obs[-1] == pytest.approx(-5.0 * 1100.0 / info["equity"], rel=1e-6)


def test_churn_and_smoothness_penalties_in_the_reward() -> None:
    env = make_env([FLAT] * 4, churn_penalty=0.1, smooth_penalty=0.02)
    _, reward, _, _, info = act(env, 0.5)
    base = math.log(info["equity"] / BAL)
    churn = 0.1 * 5.0 * 1001.0 / BAL
    assert reward == pytest.approx(base - churn - 0.02 * 0.25, rel=1e-12)
    equity = info["equity"]
    _, reward, _, _, info = act(env, 0.5)  # no trade, same target: no penalty
    assert reward == pytest.approx(math.log(info["equity"] / equity), abs=1e-15)
    _, reward, _, _, info = act(env, 0.53125)  # inside the deadzone: smoothness only
    assert info["fill_qty"] == 0.0
    assert reward == pytest.approx(-0.02 * 0.03125**2, rel=1e-12)


def test_drawdown_penalty_uses_the_episode_peak() -> None:
    rows = [FLAT, (1000.0, 1000.0, 1000.0, 1100.0), (1100.0, 1100.0, 1100.0, 1000.0), FLAT]
    env = make_env(rows, drawdown_penalty=0.5, slippage_bps=0.0, fee_rate=0.0)
    _, reward, _, _, info = act(env, 1.0)  # 10 BTC at 1000: equity 11,000 = new peak
    assert reward == pytest.approx(math.log(1.1), rel=1e-12)
    _, reward, _, _, info = act(env, 1.0)  # back to 10,000: 1/11 under the peak
    assert info["equity"] == pytest.approx(BAL)
    assert reward == pytest.approx(math.log(1 / 1.1) - 0.5 * (1.0 / 11.0), rel=1e-12)
