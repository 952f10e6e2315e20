"""Where runs are recorded."""

from pydantic import Field

from btcrl.config.base import Section


class TrackingConfig(Section):
    """MLflow tracking. ``uri`` None means MLFLOW_TRACKING_URI, else the embedded sqlite store."""

    uri: str | None = Field(None, description="MLflow tracking URI")
    enabled: bool = True
