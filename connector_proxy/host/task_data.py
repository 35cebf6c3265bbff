"""The host's task data carried as it came, read only when something looks inside.

SpiffWorkflow sends a task's whole data (``spiff__task_data``) with every call,
megabytes in real process instances, and most commands never read it. Building
Python objects for it cost ~20 ms per MiB a call; finding its extent and
checking it costs ~2. So a call's body is read in two parts: everything but
the task data strictly, as :func:`jsontext.loads` reads any body, and the task
data's text kept in a :class:`CarriedObject`, a mapping that parses it (just
as strictly) the first time a command, a legacy package or an isolated worker
reads it. Jobs store and reload that text as it is (:func:`read_stored`).

Checked on arrival, at C speed, before anything runs: JSON syntax, nesting,
NaN and Infinity, control characters and lone surrogates (msgspec's scan finds
the task data's extent and refuses them), and UTF-8. Two rules need the
objects built, or a tokenizer: a key named twice in one object and a number
beyond a double. Inside the task data they are found when it is first read,
and the call is then refused as it would have been on arrival (400
``InvalidRequestBody``). Its text is written out (an answer echoing it) only
once read so; records this daemon reads back itself store it unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import INVALID_REQUEST_BODY
from connector_proxy.sdk.errors import CommandError

TASK_DATA = "spiff__task_data"
_KEY = b'"spiff__task_data"'
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])  # a body's members, each value's text unread
_WHITESPACE = b" \t\n\r"


class CarriedObject(jsontext.RawJson, Mapping[str, Any]):
    """A JSON object's text, parsed strictly the first time it is read; written back as it came."""

    __slots__ = ("_document",)

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self._document: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The parsed object; a reason to refuse it refuses the call, as it would have on arrival."""
        if self._document is None:
            try:
                self._document = jsontext.loads(self.raw)
            except jsontext.NotStrictJson as problem:
                raise CommandError(INVALID_REQUEST_BODY, f"{TASK_DATA}: {problem}") from None
        return self._document

    def text(self) -> bytes:
        """The text as it came, once read strictly: what was not checked on arrival is never written out
        (records this daemon reads back itself are stored unchecked: ``jsontext.dumps(as_stored=True)``)."""
        self.document  # noqa: B018 - read for its refusal
        return self.raw

    def __getitem__(self, key: str) -> Any:
        return self.document[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.document)

    def __len__(self) -> int:
        return len(self.document)

    def __repr__(self) -> str:
        return f"CarriedObject({len(self.raw)} bytes)"


def read_call(raw: bytes) -> Any:
    """A call's body, as strictly as :func:`jsontext.loads` reads it, its task data carried unread."""
    return _read(raw, jsontext.loads)


def read_stored(raw: bytes) -> Any:
    """A payload this daemon stored (a job's): read back as it was written, its task data carried."""
    return _read(raw, json.loads)


def read_record(raw: bytes, carrying: str) -> dict[str, Any]:
    """A record this daemon stored (``jsontext.dumps`` of a dict): its ``carrying`` member read by
    :func:`read_stored`, the others by ``json.loads``, so a job's task data is never parsed to be moved."""
    members = _MEMBERS.decode(raw)
    return {key: (read_stored if key == carrying else json.loads)(bytes(raw)) for key, raw in members.items()}


def _read(raw: bytes, reader: Callable[[bytes], Any]) -> Any:
    split = _split(raw) if _KEY in raw else None
    if split is None:
        return reader(raw)
    rest, task_data = split
    document = reader(rest)
    if not isinstance(document, dict) or document.get(TASK_DATA, 0) is not None:
        return reader(raw)  # the text spliced out was not the body's own task data: read all of it
    document[TASK_DATA] = task_data
    return document


def _split(raw: bytes) -> tuple[bytes, CarriedObject] | None:
    """The body with its task data replaced by null, and the task data; None when it must be read whole."""
    try:
        members = _MEMBERS.decode(raw)  # syntax, nesting, NaN, lone surrogates: refused by msgspec's scan
    except (msgspec.MsgspecError, RecursionError, ValueError):
        return None  # the strict reader says why
    value = members.get(TASK_DATA)
    text = bytes(value) if value is not None else b""
    if not text.startswith(b"{") or not _utf8(text):
        return None
    start = _value_at(raw, text)
    if start < 0:
        return None
    return raw[:start] + b"null" + raw[start + len(text) :], CarriedObject(text)


def _utf8(text: bytes) -> bool:
    """Whether ``text`` is UTF-8 (msgspec's scan does not check)."""
    if text.isascii():
        return True
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _value_at(raw: bytes, text: bytes) -> int:
    """Where the top-level task data's text starts in the body; -1 if not found as a member's value."""
    at = raw.find(_KEY)
    while at >= 0:
        start = _past_colon(raw, at + len(_KEY))
        if start >= 0 and raw.startswith(text, start):
            return start
        at = raw.find(_KEY, at + 1)
    return -1


def _past_colon(raw: bytes, at: int) -> int:
    """The first byte after ``":"`` and the whitespace around it, from ``at``; -1 if no colon follows."""
    while at < len(raw) and raw[at] in _WHITESPACE:
        at += 1
    if at >= len(raw) or raw[at] != 0x3A:
        return -1
    at += 1
    while at < len(raw) and raw[at] in _WHITESPACE:
        at += 1
    return at
