"""Keep credentials out of everything btcrl logs: params, tags, ``config.yaml``, messages.

One rule, applied in one place (``flatten_config`` and ``dump_config`` call it on the whole
config tree before anything is logged): the password of a URL's user info
(``postgresql://user:PASSWORD@host/db``) and the value of a secret-looking query parameter
(``?password=...``, ``token=``, ``secret=``, ``api_key=``, ``apikey=``, ``key=``) become
``***``. User names, hosts and paths stay readable. Exchange API keys never enter the config
at all: they are read from the environment (``btcrl.data.ccxt_source.api_credentials``).
"""

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# scheme://user:password@  (greedy up to the last "@" of the authority, so a raw "@" in the
# password is masked too)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^/\s]+)(?=@)")
_QUERY = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|token|secret|api_key|apikey|key)=)(?P<secret>[^&;#\s]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with URL passwords and secret query values replaced by ``***``."""
    text = _USERINFO.sub(lambda m: m["head"] + MASK, text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


def redact_tree(node: Any) -> Any:
    """A copy of a JSON-like tree (dicts, lists, scalars) with every string redacted."""
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, Mapping):
        return {key: redact_tree(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [redact_tree(value) for value in node]
    return node
