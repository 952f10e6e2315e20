"""The one exception hierarchy of btcrl.

Boundaries raise these (never ``assert``); the CLI turns them into one line on stderr and
exit code 1. Messages name the offending value and, where cheap, what is allowed.
"""


class BtcrlError(Exception):
    """Base of every error btcrl reports to a user."""


class ConfigError(BtcrlError):
    """A configuration value or override is invalid."""


class DataError(BtcrlError):
    """Candles or features are missing, malformed or fail validation."""


class ExchangeError(BtcrlError):
    """An exchange (or another remote source) refused or failed after retries."""


class CompatibilityError(BtcrlError):
    """A model and the data it is asked to run on disagree (FeatureSpec mismatch)."""
