"""Request bodies held to the limits: ``limits.max_body_bytes``, chunked ones included, and
``limits.body_timeout``, however slowly they arrive."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from flask import Request, current_app
from gunicorn.http.body import ChunkedReader
from gunicorn.http.errors import InvalidChunkSize, ParseException
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge, RequestTimeout

from connector_proxy.process.concurrency import reading_deadline


class ChunkTooLarge(InvalidChunkSize):  # type: ignore[misc]  # gunicorn ships no types
    """A chunk announced as larger than the whole body may be."""


class BoundedChunkedReader(ChunkedReader):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's chunked-body reader (installed by ``server.serve``), refusing a chunk over
    limits.max_body_bytes as soon as its size line is read: otherwise a size such as
    ``ffffffffffffffffffff`` is waited on for its bytes."""

    max_chunk = 10 * 1024 * 1024

    def parse_chunk_size(self, unreader: Any, data: Any = None) -> tuple[int, Any]:
        size, rest = super().parse_chunk_size(unreader, data)
        if size > self.max_chunk:
            raise ChunkTooLarge(b"over limits.max_body_bytes")
        return size, rest


class BoundedRequest(Request):
    """Werkzeug stops reading a body without a Content-Length at the limit and hands back what it
    read, so an oversized chunked body would reach the JSON parser cut short (a misleading 400).
    One more byte past the limit, read from the server's stream, tells a body that merely fits
    from one that is too large (413)."""

    @property
    def body_timeout(self) -> float:
        """``limits.body_timeout``, read like Flask reads MAX_CONTENT_LENGTH."""
        return float(current_app.config.get("BODY_TIMEOUT", 30.0))

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        client = self.environ.get("gunicorn.socket")
        try:
            with reading_deadline(self.body_timeout, client):
                return self._bounded_data(*args, **kwargs)
        except (TimeoutError, ClientDisconnected) as error:
            # werkzeug reports any failed read as a disconnect; the deadline's shows as its context
            if not isinstance(error, TimeoutError) and not isinstance(error.__context__, TimeoutError):
                raise
            stop_reading(client)
            raise RequestTimeout(f"The body did not arrive within {self.body_timeout:g} s") from None
        except ParseException as error:  # the server's chunked decoding refused it
            stop_reading(client)
            if isinstance(error, ChunkTooLarge):
                raise RequestEntityTooLarge() from None
            raise BadRequest("The body's chunked transfer encoding is malformed") from None

    def _bounded_data(self, *args: Any, **kwargs: Any) -> Any:
        data = super().get_data(*args, **kwargs)
        limit = self.max_content_length
        if self.content_length is None and limit is not None and len(data) >= limit and self._more():
            stop_reading(self.environ.get("gunicorn.socket"))
            raise RequestEntityTooLarge()
        return data

    def _more(self) -> bool:
        try:
            return bool(self.environ["wsgi.input"].read(1))
        except (OSError, ValueError):
            return False  # the client is gone: nothing more will come


def stop_reading(client: socket.socket | None) -> None:
    """The rest of this body will not be read: the answer goes out, then the connection closes
    (the server would otherwise drain the unread body, as slowly as the client sends it)."""
    if client is not None:
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RD)
