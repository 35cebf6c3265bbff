"""Log lines without secrets: URLs shrink to their origin, query strings to ``?…``.

Paths, query strings and userinfo of the URLs a daemon sees carry the host's
secrets (tokens, one-time codes, basic-auth passwords). Our own code logs
origins only, but libraries (urllib3's request lines, tracebacks quoting a
URL) do not, so every line is redacted where it is written: the formatter of
the daemon's log handlers.
"""

from __future__ import annotations

import logging
import re

URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<rest>[^\s'\"<>]+)")
QUERY = re.compile(r"(?<=[^\s?])\?[^\s'\"<>]+")  # /path?token=…, as in a request line
AFTER_AUTHORITY = re.compile(r"[/?#]")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """``https://user:pw@host:8443/a?t=1`` -> ``https://host:8443/…``; ``/a?t=1`` -> ``/a?…``."""
    return QUERY.sub("?…", URL.sub(_origin_only, text))


def _origin_only(match: re.Match[str]) -> str:
    rest = match["rest"]
    cut = AFTER_AUTHORITY.search(rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    host = authority.rpartition("@")[2]  # userinfo never shown
    return f"{match['scheme']}://{host}{'/…' if tail.strip('/') else tail}"


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output, traceback included, goes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str | int) -> None:
    """The root handler, with redaction (libraries' loggers propagate to it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def redact_handlers(logger: logging.Logger, line_format: str, date_format: str | None = None) -> None:
    """Put redaction on handlers someone else made (gunicorn's), in the format they use."""
    for handler in logger.handlers:
        handler.setFormatter(RedactingFormatter(line_format, date_format))
