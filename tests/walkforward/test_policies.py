"""The stitch takes a model this process trained from memory, once; otherwise it loads it."""

from pathlib import Path

import pytest

from btcrl.agents.algos import build_model
from btcrl.config import AgentConfig, ExperimentConfig, FeaturesConfig
from btcrl.config.env import EnvConfig
from btcrl.data.sample import load_sample
from btcrl.env import BatchTradingEnv
from btcrl.errors import BtcrlError
from btcrl.features import build_feature_set
from btcrl.walkforward.policies import forget_policies, remember_policy, take_policy


@pytest.mark.slow
def test_a_remembered_model_is_handed_out_once(tmp_path: Path, tracking_uri: str) -> None:
    fs = build_feature_set(
        load_sample().iloc[:600],
        FeaturesConfig(),
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
    )
    env = BatchTradingEnv(fs, EnvConfig(episode_length=64), 2, seed=0)
    model = build_model(AgentConfig(net_arch=[8, 8], device="cpu"), env, seed=0, device="cpu")
    config = ExperimentConfig()
    uri = "runs:/0123456789abcdef0123456789abcdef/model"
    remember_policy(uri, model, fs.spec, config)
    kept = take_policy(uri)
    assert kept.model is model
    assert kept.spec == fs.spec and kept.model_uri == uri
    with pytest.raises(BtcrlError, match="0123456789abcdef"):
        take_policy(uri)  # handed out: now it is looked up in the store, where it is not
    remember_policy(uri, model, fs.spec, config)
    forget_policies()
    with pytest.raises(BtcrlError, match=f"cannot load model {uri}: Run with id=0123456789abcdef"):
        take_policy(uri)
    env.close()
