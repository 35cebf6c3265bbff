"""Every request gets an id: the client's ``X-Request-Id`` when it is a plain token, else a new one.

The id is bound for the request's greenlet or thread (every log line carries
it), kept in the WSGI environ for gunicorn's access line, sent on to
upstreams and the callback, and answered in the response's ``X-Request-Id``.
A WSGI middleware rather than Flask hooks: it is on every request's path, and
this costs a third of what three hooks do.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from flask import Flask

from connector_proxy.sdk.context import CallIds, bind_call_ids, unbind_call_ids

HEADER = "X-Request-Id"
ENVIRON_KEY = "connector_proxy.request_id"
# a client's id is kept only when it cannot forge a log line or a header: short, plain characters
_PLAIN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


def identify_requests(app: Flask) -> None:
    """Wrap the app: outermost, so even an answer from an error handler carries the id."""
    inner = app.wsgi_app

    def identified(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _PLAIN.fullmatch(offered) else secrets.token_hex(16)
        environ[ENVIRON_KEY] = request_id

        def answering(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            headers.append((HEADER, request_id))
            return start_response(status, headers, *exc_info)

        token = bind_call_ids(CallIds(request_id=request_id))
        try:
            return inner(environ, answering)
        finally:  # a gthread worker's thread serves the next request with a clean slate
            unbind_call_ids(token)

    app.wsgi_app = identified  # type: ignore[method-assign]
