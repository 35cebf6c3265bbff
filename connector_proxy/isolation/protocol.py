"""The isolation protocol: one JSON object per line over the worker's stdin and stdout.

Written down for implementers in docs/isolation-protocol.md; this module is
its one encoder and decoder, used by the daemon and by our Python worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from connector_proxy.sdk.triggers import Event

VERSION = 2  # what our worker speaks: 1, plus typeaheads, triggers and auths (docs/isolation-protocol.md)
SUPPORTED = (1, 2)  # what the daemon accepts in a hello: a version-1 worker keeps working
LATER = ("typeaheads", "triggers", "auths")  # what version 2 added: never read from a version-1 worker
ANSWERS = ("result", "error", "refused", "crash")  # the message types that answer a call
MAX_LINE = 64 * 1024 * 1024  # a line longer than this is a protocol error, not a memory problem


class ProtocolError(Exception):
    """The peer wrote something that is not a protocol message."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError(f"not a JSON line: {line[:80]!r}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message must be a JSON object with a string 'type'")
    return message


def events_to_wire(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Events as messages carry them (a poll's, a webhook's, an acknowledgement's): ``[{"key", "data"}]``."""
    return [{"key": event.key, "data": event.data} for event in events if isinstance(event, Event)]


def events_from_wire(entries: Iterable[Any]) -> list[Event]:
    """Events from a message's ``[{"key", "data"}]``."""
    return [Event(str(entry.get("key")), entry.get("data")) for entry in entries if isinstance(entry, dict)]
