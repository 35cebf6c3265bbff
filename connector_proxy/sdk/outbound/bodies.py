"""An upstream answer's body read whole, within a size limit and by a deadline, however slowly it trickles."""

from __future__ import annotations

import time

from urllib3 import BaseHTTPResponse
from urllib3.exceptions import TimeoutError as Urllib3Timeout

READ_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The answer's body is over the caller's limit (declared, or as it arrived): not held."""


class BodyLate(Exception):
    """The answer's body had not all arrived by the caller's deadline."""


def read_body(response: BaseHTTPResponse, deadline: float, limit: int, declared_length: bool = True) -> bytes:
    """A streamed response's whole body by ``deadline`` (``time.monotonic()``) and within ``limit``
    bytes, however slowly it trickles: each read waits only for what is left of the time.

    A ``Content-Length`` over the limit is refused before a byte is read (``declared_length=False``
    for a HEAD answer, which declares a body it does not send). Raises BodyTooLarge or BodyLate;
    the caller releases the response (closed first when its body was not read to the end).
    """
    declared = response.headers.get("Content-Length", "")
    if declared_length and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is declared {declared} bytes, over {limit}")
    chunks: list[bytes] = []
    size = 0
    while chunk := _next_chunk(response, deadline):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _next_chunk(response: BaseHTTPResponse, deadline: float) -> bytes:
    """What the socket has now (one read, not CHUNK bytes gathered), waiting no later than the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BodyLate("the body did not arrive in time")
    sock = getattr(response.connection, "sock", None)
    if sock is not None:
        sock.settimeout(left)  # the pool sets its own timeout again when the connection is reused
    try:
        return response.read1(READ_CHUNK)  # urllib3 2.2 and later
    except Urllib3Timeout:  # the socket's wait, set to what was left, ran out
        raise BodyLate("the body did not arrive in time") from None
