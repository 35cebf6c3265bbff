"""The secret values this process knows, masked in whatever text leaves it: log lines, spans.

Every secret resolved here (a configuration's references and secret fields, a provider's answer,
an OAuth token set) is remembered as it is read; the log formatters
(:func:`connector_proxy.telemetry.redaction.redact`) and the span exporter (:mod:`.masked_export`) replace
each occurrence with ``********``, whichever code wrote the text: a connector's exception quoting a
token, a library's traceback, a span's attribute.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

MASK = "********"
MIN_LENGTH = 8  # shorter values would mask ordinary words ("secret", a port) in every line
_known: set[str] = set()
_longest_first: tuple[str, ...] = ()
_lock = threading.Lock()


def remember(*values: object) -> None:
    """Mask these values (strings of at least MIN_LENGTH characters) from now on, in their plain,
    percent-encoded and JSON-escaped forms."""
    global _longest_first
    found = {
        form
        for value in values
        if isinstance(value, str) and len(value) >= MIN_LENGTH
        for form in (value, quote(value, safe=""), json.dumps(value)[1:-1])
    }
    if found <= _known:
        return
    with _lock:
        _known.update(found)
        _longest_first = tuple(sorted(_known, key=len, reverse=True))


def mask(text: str) -> str:
    """``text`` with every known secret replaced by ``********``."""
    for value in _longest_first:
        if value in text:
            text = text.replace(value, MASK)
    return text


def known() -> int:
    """How many values (forms included) are masked: for a test or a check."""
    return len(_known)
