"""Log lines without secrets: URLs shrink to their origin, query strings to ``?…``.

Paths, query strings and userinfo of the URLs a daemon sees carry the host's
secrets (tokens, one-time codes, basic-auth passwords). Our own code logs
origins only, but libraries (urllib3's request lines, tracebacks quoting a
URL) do not, so every line is redacted where it is written: the daemon's log
formatters (:mod:`connector_proxy.telemetry.logs`).
"""

from __future__ import annotations

import re

from connector_proxy.sdk.masking import mask

URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<rest>[^\s'\"<>]+)")
QUERY = re.compile(r"(?<=[^\s?])\?[^\s'\"<>]+")  # /path?token=…, as in a request line
AFTER_AUTHORITY = re.compile(r"[/?#]")


def redact(text: str) -> str:
    """``https://user:pw@host:8443/a?t=1`` -> ``https://host:8443/…``; ``/a?t=1`` -> ``/a?…``; and
    every secret value this process resolved, wherever it is, ``********`` (:mod:`.sdk.masking`)."""
    return QUERY.sub("?…", URL.sub(_origin_only, mask(text)))


def _origin_only(match: re.Match[str]) -> str:
    rest = match["rest"]
    cut = AFTER_AUTHORITY.search(rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    host = authority.rpartition("@")[2]  # userinfo never shown
    return f"{match['scheme']}://{host}{'/…' if tail.strip('/') else tail}"
