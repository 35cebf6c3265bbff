"""What a host said back to a delivery (a callback, a message), kept for the operator: its JSON, or
the start of its text. One reader for both kinds of delivery."""

from __future__ import annotations

import json

from urllib3 import BaseHTTPResponse

MAX_ANSWER_CHARS = 2000  # enough for an error's code and message; a record stays small


def read_answer(response: BaseHTTPResponse) -> object:
    text = response.data[: MAX_ANSWER_CHARS * 4].decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_ANSWER_CHARS] or None
