"""Every request gets an id: the client's ``X-Request-Id`` when it is a plain token, else a new one.

The id is bound for the request's greenlet or thread (every log line carries
it), kept in the WSGI environ for gunicorn's access line, sent on to
upstreams and the callback, and answered in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import re
import uuid
from contextvars import Token

from flask import Flask, Response, g, request

from connector_proxy.sdk.context import CallIds, bind_call_ids, unbind_call_ids

HEADER = "X-Request-Id"
ENVIRON_KEY = "connector_proxy.request_id"
# a client's id is kept only when it cannot forge a log line or a header: short, plain characters
_PLAIN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


def identify_requests(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_answer)
    app.teardown_request(_release)


def _assign() -> None:
    offered = request.headers.get(HEADER, "")
    request_id = offered if _PLAIN.fullmatch(offered) else uuid.uuid4().hex
    request.environ[ENVIRON_KEY] = request_id
    g.call_ids_token = bind_call_ids(CallIds(request_id=request_id))


def _answer(response: Response) -> Response:
    request_id = request.environ.get(ENVIRON_KEY)
    if request_id:
        response.headers[HEADER] = request_id
    return response


def _release(_error: BaseException | None) -> None:
    token: Token[CallIds] | None = g.pop("call_ids_token", None)
    if token is not None:  # a gthread worker's thread serves the next request with a clean slate
        unbind_call_ids(token)
