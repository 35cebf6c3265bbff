"""Request bodies held to ``limits.max_body_bytes``, streamed (chunked) ones included."""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge


class BoundedRequest(Request):
    """Werkzeug stops reading a body without a Content-Length at the limit and hands back what it
    read, so an oversized chunked body would reach the JSON parser cut short (a misleading 400).
    One more byte past the limit, read from the server's stream, tells a body that merely fits
    from one that is too large (413)."""

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        data = super().get_data(*args, **kwargs)
        limit = self.max_content_length
        if self.content_length is None and limit is not None and len(data) >= limit and self._more():
            raise RequestEntityTooLarge()
        return data

    def _more(self) -> bool:
        try:
            return bool(self.environ["wsgi.input"].read(1))
        except (OSError, ValueError):
            return False  # the client is gone: nothing more will come
