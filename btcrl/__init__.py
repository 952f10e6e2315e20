"""btcrl: RL agents that trade Bitcoin, backtested honestly, tracked in MLflow."""

from btcrl.kernel_cache import drop_stale_kernels

__version__ = "0.1.0"

drop_stale_kernels()
