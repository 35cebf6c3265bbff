"""Turn an upstream body into the JSON value the BPMN task receives.

JSON passes through, XML becomes a dict, other text is wrapped as
``{"raw_response": text}`` and binary as ``{"raw_response_base64": ...}``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import xmltodict

_CHARSET = re.compile(r"charset=\"?([\w.:-]+)", re.IGNORECASE)
_TEXT_TYPES = ("application/javascript", "application/x-www-form-urlencoded", "application/yaml")


def decode_body(content: bytes, content_type: str) -> Any:
    if not content:
        return {}
    media_type, _, options = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return _parsed(content, json.loads, options)
    if media_type in ("application/xml", "text/xml") or media_type.endswith("+xml"):
        return _parsed(content, xmltodict.parse, options)  # entities are not expanded by default
    if not media_type or media_type.startswith("text/") or media_type in _TEXT_TYPES:
        return {"raw_response": _text(content, options)}
    return {"raw_response_base64": base64.b64encode(content).decode("ascii")}


def _parsed(content: bytes, parse: Callable[[bytes], Any], options: str) -> Any:
    try:
        return parse(content)
    except Exception:  # malformed upstream data is still passed on, as text
        return {"raw_response": _text(content, options)}


def _text(content: bytes, options: str) -> str:
    """Decode with the declared charset, else UTF-8; undecodable bytes are replaced."""
    match = _CHARSET.search(options)
    try:
        return content.decode(match.group(1) if match else "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")
