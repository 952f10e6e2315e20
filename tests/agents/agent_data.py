"""Noise-free synthetic feature sets and a tiny fast config for agent tests (importable:
``from agent_data import``)."""

from typing import Any

import numpy as np
import pandas as pd

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.features.spec import ColumnSpec, FeatureSet, FeatureSpec


def sine_feature_set(
    n: int = 3000, period: int = 48, amplitude: float = 0.05, start: str = "2024-01-01"
) -> FeatureSet:
    """A clean sine price (period in bars) whose phase is observed as sin/cos features.

    Knowing the phase at the close of bar t tells the direction of the next bars exactly, so
    the right policy (long on the way up, short on the way down) is obvious.
    """
    t = np.arange(n + 1, dtype=np.float64)
    level = 30_000.0 * (1.0 + amplitude * np.sin(2.0 * np.pi * t / period))
    open_, close = level[:-1], level[1:]
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    phase = 2.0 * np.pi * t[1:] / period
    features = np.stack([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)
    times = pd.date_range(start, periods=n, freq="1h", tz="UTC").as_unit("ns").asi8
    spec = FeatureSpec(
        exchange="synthetic",
        symbol="SINE/USD",
        timeframe="1h",
        columns=(
            ColumnSpec("phase_sin", "indicator", "none"),
            ColumnSpec("phase_cos", "indicator", "none"),
        ),
        data_hash="sine",
        first_bar=str(pd.Timestamp(times[0], tz="UTC")),
        last_bar=str(pd.Timestamp(times[-1], tz="UTC")),
    )
    return FeatureSet(
        spec=spec,
        times=times.astype(np.int64),
        prices=np.stack([open_, high, low, close], axis=1),
        volume=np.ones(n),
        features=features,
        first_valid=0,
    )


def sine_candles(n: int = 4000, period: int = 48, amplitude: float = 0.05) -> pd.DataFrame:
    """Hourly candles of a clean sine (no noise): open/close on the curve, a thin wick."""
    t = np.arange(n + 1, dtype=np.float64)
    level = 30_000.0 * (1.0 + amplitude * np.sin(2.0 * np.pi * t / period))
    open_, close = level[:-1], level[1:]
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": np.full(n, 10.0),
        },
        index=index,
    )


def tiny_config(tracking_uri: str, **values: Any) -> ExperimentConfig:
    """A config that trains in seconds: few envs, short rollouts, frequent validation."""
    base = {
        "tracking.uri": tracking_uri,
        "train.total_timesteps": 2048,
        "train.n_envs": 8,
        "train.eval_every": 1024,
        "train.system_metrics": False,
        "train.torch_threads": 1,
        "env.episode_length": 128,
        "agent.n_steps": 64,
        "agent.batch_size": 256,
        "agent.n_epochs": 2,
        "agent.net_arch": [32, 32],
        "agent.buffer_size": 5000,
        "agent.learning_starts": 256,
        "agent.off_policy_batch_size": 64,
        "agent.device": "cpu",
        # the fixtures' feature sets carry no prior: the plain action mode (the residual
        # mode of the shipped default has its own tests: tests/env/test_residual.py)
        "env.action_mode": "absolute",
        "features.prior.enabled": False,
        # an untrained policy's small targets still trade: a model that never traded on
        # validation is registered without @candidate (tests/agents/test_validation_prior.py)
        "env.exposure_deadzone": 0.0,
    }
    base.update(values)
    return with_overrides(ExperimentConfig(), base)
