"""Content as BPMN tasks hold it (text, base64, or a browser's data: URL) to bytes and back."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal
from urllib.parse import unquote_to_bytes

from connector_proxy.sdk import CommandError
from connector_proxy_aws import errors

Encoding = Literal["text", "base64", "data_url"]  # how an object's content travels in JSON
_DATA_URL = re.compile(
    r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*?)(?P<base64>;base64)?,(?P<data>.*)$", re.DOTALL
)


def to_bytes(content: str, encoding: str) -> tuple[bytes, str | None]:
    """The bytes, and the content type a data: URL carried (None otherwise)."""
    if encoding == "text":
        return content.encode(), None
    if encoding == "base64":
        return _b64(content), None
    found = _DATA_URL.match(content)
    if found is None:
        raise CommandError(errors.INVALID_CONTENT, "content is not a data: URL (data:<type>;base64,<data>)")
    data = found.group("data")
    raw = _b64(data) if found.group("base64") else unquote_to_bytes(data)
    return raw, found.group("type") or "text/plain"


def from_bytes(raw: bytes, wanted: str) -> tuple[str, Literal["text", "base64"]]:
    """Text when asked and possible, else base64; returns (content, encoding used)."""
    if wanted == "text":
        try:
            return raw.decode(), "text"
        except UnicodeDecodeError:
            pass  # binary: base64 rather than a mangled string
    return base64.b64encode(raw).decode(), "base64"


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CommandError(errors.INVALID_CONTENT, "content is not valid base64") from None
