"""One deterministic episode of an MLP policy, run whole inside one compiled call.

The kernel resets one account at the episode's first row and then, for every step: copies the
observation the engine wrote, runs the actor's forward pass on it (float32, the layers of
``btcrl.env.mlp.MlpActor`` in order; or takes a rule's action planned for that row), and
steps the engine with that action through its
public functions (``reset_env``, ``step_range`` at N = 1, no auto-reset), so fills, fees,
stops and rewards are the engine's own. Each step's ledger row, observation and action are
written into preallocated arrays. The episode is exactly the one ``TradingEnv`` gives
for the same actions; the actions agree with SB3's ``predict(obs, deterministic=True)`` to
about 1e-6 (float32 summation order, and ``tanh32`` in the hidden layers).

Speed (``benchmarks/episode.py``, 10,000 bars, default PPO 64x64 tanh over 36 observed
values, on 2 CPU cores shared with other work): about 25-40 ms per episode compiled (SAC
about 23 ms), against about 4.4 s stepping ``TradingEnv`` with SB3 ``predict`` (a speed-up
of about 110x; 290x for SAC). Compiling the kernels takes about 15 s once; numba caches
them on disk, so later processes load them in about 0.1 s.
"""

from collections.abc import Sequence

import numpy as np
from numba import njit

from btcrl.config.env import EnvConfig
from btcrl.env.engine import reset_env, step_range
from btcrl.env.layout import N_ISTATE, N_LEDGER, N_STATE
from btcrl.env.mlp import RELU, TANH, MlpActor
from btcrl.env.params import (
    check_feature_set,
    episode_bounds,
    feature_params,
    observation_size,
    resolve_mode,
)
from btcrl.errors import CompatibilityError, ConfigError
from btcrl.features.spec import FeatureSet

TANH_CLAMP = 7.90531110763549805  # |x| beyond which float32 tanh(x) rounds to +-1
# odd numerator (x^1 .. x^13) and even denominator (x^0 .. x^6) of Eigen's float tanh
TANH_P = (
    4.89352455891786e-03,
    6.37261928875436e-04,
    1.48572235717979e-05,
    5.12229709037114e-08,
    -8.60467152213735e-11,
    2.00018790482477e-13,
    -2.76076847742355e-16,
)
TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


@njit(cache=True, error_model="numpy", inline="always")
def tanh32(x: np.float32) -> np.float32:
    """float32 tanh as Eigen computes it (a 13/6 rational approximation on the clamped
    input): within 3.5e-7 of the exact value everywhere, and about 30x faster than libm's
    tanhf inside the kernel (it vectorises). Hidden layers use it; the action head uses
    ``np.tanh``."""
    c = np.float32(TANH_CLAMP)
    x = np.float32(min(max(x, -c), c))
    x2 = x * x
    p = np.float32(TANH_P[6])
    for i in range(5, -1, -1):
        p = p * x2 + np.float32(TANH_P[i])
    q = np.float32(TANH_Q[3])
    for i in range(2, -1, -1):
        q = q * x2 + np.float32(TANH_Q[i])
    return x * p / q


@njit(cache=True, error_model="numpy", inline="always")
def _dense(x: np.ndarray, w: np.ndarray, b: np.ndarray, kind: int, y: np.ndarray) -> None:
    """``y = act(x @ w + b)`` for ``w`` float32 (in, out): unit j sums ``w[k, j] x[k]`` over
    k in order, then adds ``b[j]`` (float32). The loop over units is innermost, so the
    compiler vectorises it without reordering any sum."""
    n_in, n_out = w.shape
    for j in range(n_out):
        y[j] = np.float32(0.0)
    for k in range(n_in):
        xk = x[k]
        for j in range(n_out):
            y[j] += w[k, j] * xk
    for j in range(n_out):
        value = y[j] + b[j]
        if kind == TANH:
            value = tanh32(value)
        elif kind == RELU and value < 0.0:
            value = np.float32(0.0)
        y[j] = value


@njit(cache=True, error_model="numpy")
def mlp_forward(
    obs: np.ndarray,
    flat: np.ndarray,
    widths: np.ndarray,
    activations: np.ndarray,
    squashed: bool,
    low: np.ndarray,
    high: np.ndarray,
    even: np.ndarray,
    odd: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write the deterministic action of ``obs[0]`` into ``out[0]`` (both float32 2-D).

    ``flat`` / ``widths`` / ``activations`` as ``MlpActor.packed()`` (weights transposed);
    ``even`` / ``odd`` float32 buffers of the widest layer (the input of even / odd layers).
    """
    for k in range(widths[0]):
        even[k] = obs[0, k]
    offset = 0
    for layer in range(activations.shape[0]):
        n_in = widths[layer]
        n_out = widths[layer + 1]
        size = n_in * n_out
        w = flat[offset : offset + size].reshape((n_in, n_out))
        b = flat[offset + size : offset + size + n_out]
        if layer % 2 == 0:
            _dense(even, w, b, activations[layer], odd)
        else:
            _dense(odd, w, b, activations[layer], even)
        offset += size + n_out
    result = odd if activations.shape[0] % 2 == 1 else even
    half = np.float32(0.5)
    for j in range(out.shape[1]):
        value = result[j]
        if squashed:
            value = low[j] + half * (np.tanh(value) + np.float32(1.0)) * (high[j] - low[j])
        else:
            value = min(max(value, low[j]), high[j])
        out[0, j] = value


@njit(cache=True, error_model="numpy")
def ensemble_forward(
    obs: np.ndarray,
    flat: np.ndarray,
    widths: np.ndarray,
    activations: np.ndarray,
    members: np.ndarray,
    squashed: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    even: np.ndarray,
    odd: np.ndarray,
    each: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write the mean of the members' deterministic actions on ``obs[0]`` into ``out[0]``.

    Member m's layers are ``flat`` / ``widths`` / ``activations`` from the offsets in row m of
    ``members`` (int64: flat, widths, activations offsets, layer count; ``pack_members``);
    its head ``squashed[m]``, ``low[m]``, ``high[m]``. Each member's action is squashed or
    clipped on its own (``mlp_forward``), then the actions are summed in member order and
    divided by the member count; one member's action is written unchanged (bit for bit)."""
    for m in range(members.shape[0]):
        fo, wo, ao, n = members[m, 0], members[m, 1], members[m, 2], members[m, 3]
        size = 0
        for layer in range(n):
            size += widths[wo + layer] * widths[wo + layer + 1] + widths[wo + layer + 1]
        target = out if m == 0 else each
        mlp_forward(
            obs, flat[fo : fo + size], widths[wo : wo + n + 1], activations[ao : ao + n],
            squashed[m], low[m], high[m], even, odd, target,
        )  # fmt: skip
        if m > 0:
            for j in range(out.shape[1]):
                out[0, j] += each[0, j]
    if members.shape[0] > 1:
        count = np.float32(members.shape[0])
        for j in range(out.shape[1]):
            out[0, j] = out[0, j] / count


@njit(cache=True, error_model="numpy")
def policy_episode(
    prices: np.ndarray,
    features: np.ndarray,
    params: np.ndarray,
    start: int,
    planned: np.ndarray,
    flat: np.ndarray,
    widths: np.ndarray,
    activations: np.ndarray,
    members: np.ndarray,
    squashed: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    observations: np.ndarray,
    actions: np.ndarray,
    ledger: np.ndarray,
) -> int:
    """Run one episode from row ``start`` (``params`` without auto-reset) for at most
    ``observations.shape[0]`` steps; fill ``observations`` (float32, before each action),
    ``actions`` (float32) and ``ledger`` (float64 engine rows). Returns the steps taken
    (fewer than the arrays hold only on bankruptcy).

    The action at row t is ``planned[t]`` when ``planned`` has rows (a rule decided in
    advance), else the MLPs' (``ensemble_forward``: one member, or the mean of several) on
    the observation of row t."""
    size = observations.shape[1]
    state = np.zeros((1, N_STATE), dtype=np.float64)
    istate = np.zeros((1, N_ISTATE), dtype=np.int64)
    obs = np.zeros((1, size), dtype=np.float32)
    term_obs = np.zeros((1, size), dtype=np.float32)
    step_ledger = np.zeros((1, N_LEDGER), dtype=np.float64)
    rewards = np.zeros(1, dtype=np.float32)
    dones = np.zeros(1, dtype=np.bool_)
    next_start = np.full(1, start, dtype=np.int64)
    action = np.zeros((1, actions.shape[1]), dtype=np.float32)
    each = np.zeros((1, actions.shape[1]), dtype=np.float32)
    even = np.zeros(widths.max(), dtype=np.float32)
    odd = np.zeros(widths.max(), dtype=np.float32)
    reset_env(0, start, features, params, state, istate, obs)
    for n in range(observations.shape[0]):
        observations[n, :] = obs[0, :]
        if planned.shape[0] > 0:
            action[0, :] = planned[start + n, :]
        else:
            ensemble_forward(
                obs, flat, widths, activations, members, squashed, low, high,
                even, odd, each, action,
            )  # fmt: skip
        actions[n, :] = action[0, :]
        step_range(
            0, 1, prices, features, action, params, next_start, state, istate,
            step_ledger, obs, term_obs, rewards, dones,
        )  # fmt: skip
        ledger[n, :] = step_ledger[0, :]
        if dones[0]:
            return n + 1
    return observations.shape[0]


#: (flat, widths, activations, members, squashed, low, high) as ``ensemble_forward`` reads them
PackedMembers = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]


def pack_members(actors: Sequence[MlpActor]) -> PackedMembers:
    """The actors' layers concatenated, with each one's offsets and head, for
    ``ensemble_forward`` (one actor: the plain MLP)."""
    parts = [actor.packed() for actor in actors]
    members = np.zeros((len(actors), 4), dtype=np.int64)
    fo = wo = ao = 0
    for m, (flat, widths, activations) in enumerate(parts):
        members[m] = (fo, wo, ao, activations.shape[0])
        fo, wo, ao = fo + flat.shape[0], wo + widths.shape[0], ao + activations.shape[0]
    return (
        np.concatenate([p[0] for p in parts]).astype(np.float32),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(np.int64),
        members,
        np.array([actor.squashed for actor in actors], dtype=np.bool_),
        np.stack([actor.low for actor in actors]).astype(np.float32),
        np.stack([actor.high for actor in actors]).astype(np.float32),
    )


def run_compiled_episode(
    features: FeatureSet,
    env_config: EnvConfig,
    actor: MlpActor | Sequence[MlpActor],
    mode: str = "eval",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The deterministic episode of ``actor`` (or of the mean action of several actors, an
    ensemble) over ``features`` in ``mode`` (eval | backtest: ``first_valid`` to the last
    row) under ``env_config``.

    Returns (observations float32 (steps, obs), actions float32 (steps, 2), ledger float64
    (steps, N_LEDGER)), one row per step taken. CompatibilityError when an actor's input
    or output size does not fit the feature set's observation or the env's action.
    """
    actors = [actor] if isinstance(actor, MlpActor) else list(actor)
    size = observation_size(features.spec, env_config.window)
    for one in actors:
        if one.obs_size != size or one.action_size != 2:
            raise CompatibilityError(
                f"policy maps {one.obs_size} inputs to {one.action_size} actions; the feature "
                f"set observes {size} values and the env takes 2 actions"
            )
    no_plan = np.zeros((0, 2), dtype=np.float32)
    return _run(features, env_config, mode, no_plan, pack_members(actors))


def run_planned_episode(
    features: FeatureSet, env_config: EnvConfig, planned: np.ndarray, mode: str = "eval"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The episode that takes action ``planned[t]`` (float32 (T, 2), one per feature-set row)
    at row t; returns as ``run_compiled_episode``. ConfigError on a wrong shape."""
    planned = np.ascontiguousarray(planned, dtype=np.float32)
    if planned.shape != (len(features), 2):
        raise ConfigError(
            f"planned actions have shape {planned.shape}, expected ({len(features)}, 2)"
        )
    no_members = (
        np.zeros(0, np.float32), np.ones(1, np.int64), np.zeros(0, np.int64),
        np.zeros((0, 4), np.int64), np.zeros(0, np.bool_),
        np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32),
    )  # fmt: skip
    return _run(features, env_config, mode, planned, no_members)


def _run(
    features: FeatureSet,
    env_config: EnvConfig,
    mode: str,
    planned: np.ndarray,
    members: PackedMembers,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the inputs, allocate the outputs, run ``policy_episode``, trim to the steps
    taken. ``members`` as ``pack_members`` gives them."""
    chosen = resolve_mode(mode, env_config)
    if chosen == "train":
        raise ConfigError("a deterministic episode runs in mode eval or backtest, not train")
    prices, values = check_feature_set(features)
    bounds = episode_bounds(features, env_config, chosen)
    params = feature_params(env_config, features, bounds.steps, auto_reset=False)
    size = observation_size(features.spec, env_config.window)
    observations = np.zeros((bounds.steps, size), dtype=np.float32)
    actions = np.zeros((bounds.steps, 2), dtype=np.float32)
    ledger = np.zeros((bounds.steps, N_LEDGER), dtype=np.float64)
    taken = policy_episode(
        prices, values, params, bounds.first_start, planned, *members,
        observations, actions, ledger,
    )  # fmt: skip
    return observations[:taken], actions[:taken], ledger[:taken]
