"""Trading environments over one pure, batched trade engine (``btcrl.env.engine``)."""

from btcrl.env.batch_env import BatchTradingEnv
from btcrl.env.layout import LEDGER_FIELDS
from btcrl.env.rewards import REWARDS, get_reward, reward_names
from btcrl.env.trading_env import TradingEnv

__all__ = [
    "LEDGER_FIELDS",
    "REWARDS",
    "BatchTradingEnv",
    "TradingEnv",
    "get_reward",
    "reward_names",
]
