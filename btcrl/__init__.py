"""btcrl: RL agents that trade Bitcoin, backtested honestly, tracked in MLflow."""

__version__ = "0.1.0"
