"""Keep credentials out of everything btcrl logs: params, tags, ``config.yaml``, messages.

One rule, :func:`redact`, applied wherever text leaves btcrl: on the whole config tree before
anything is logged (``flatten_config``, ``dump_config``), on every error line the CLI prints
(``btcrl.cli.common.handle_errors``), on every log record (:class:`RedactingFormatter`, set
up by the CLI and the workers), on uncaught tracebacks and on a run's ``btcrl.end_reason``.
The password of a URL's user info (``postgresql://user:PASSWORD@host/db`` ->
``user:***@``), a bare user name that may be a token (``http://TOKEN@host`` -> ``***@``)
and the value of a secret-looking query parameter (``?password=...``, ``token=``,
``secret=``, ``api_key=``, ``apikey=``, ``key=``) become ``***``. Hosts and paths stay
readable. Exchange API keys never enter the config at all: they are read from the
environment (``btcrl.data.ccxt_source.api_credentials``).
"""

import logging
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# scheme://authority: the user info is what comes before the authority's last "@" (so a raw
# "@" in a password is masked too)
_AUTHORITY = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#\s]*@[^/?#\s@]*)"
)
_QUERY = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|token|secret|api_key|apikey|key)=)(?P<secret>[^&;#\s]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with URL passwords and secret query values replaced by ``***``."""
    text = _AUTHORITY.sub(_mask_userinfo, text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


def _mask_userinfo(match: re.Match[str]) -> str:
    """``user:PASSWORD@host`` -> ``user:***@host``; ``TOKEN@host`` -> ``***@host``."""
    userinfo, _, host = match["authority"].rpartition("@")
    user, colon, _secret = userinfo.partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return f"{match['scheme']}{shown}@{host}"


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output (message, arguments and traceback) is :func:`redact`-ed:
    libraries put URLs with credentials in their exception texts."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def redact_tree(node: Any) -> Any:
    """A copy of a JSON-like tree (dicts, lists, scalars) with every string redacted."""
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, Mapping):
        return {key: redact_tree(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [redact_tree(value) for value in node]
    return node
