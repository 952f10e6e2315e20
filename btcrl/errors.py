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


class TrackingError(BtcrlError):
    """The MLflow tracking store (database, server or artifact root) failed: full or
    read-only disk, a server that is down, a URI that names no usable store."""


class CompatibilityError(BtcrlError):
    """A model and the data it is asked to run on disagree (FeatureSpec mismatch)."""


def interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) behind ``exc``: ``exc``
    itself, or one in its cause/context chain. A signal that lands inside library code (a
    checkpoint being written) can come out as that library's own error raised while it
    unwinds; the run was still interrupted, not failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
