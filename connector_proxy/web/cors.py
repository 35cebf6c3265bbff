"""Cross-origin calls from the browsers of allowlisted origins, and from no other.

A SpiffWorkflow backend calls the proxy server-side and needs none of this;
a browser application the operator lists in ``cors.origins`` may call ``/v1/``.
A preflight from a listed origin is answered before the API key is asked for
(a browser sends none with it); one from any other origin is answered as any
OPTIONS request is, and gets no CORS header, so the browser refuses the call.
"""

from __future__ import annotations

from flask import Flask, Response, request

from connector_proxy.config import CorsSettings
from connector_proxy.web.auth import HEADER
from connector_proxy.web.request_ids import HEADER as REQUEST_ID
from connector_proxy.web.state import proxy_state

PREFLIGHT_MAX_AGE = "600"  # seconds a browser may keep a preflight's answer
ALLOWED_METHODS = "GET, POST, PUT"
ALLOWED_HEADERS = f"Content-Type, {HEADER}, {REQUEST_ID}, Prefer"


def allow_listed_origins(app: Flask, cors: CorsSettings) -> None:
    """Before everything else (the key check included): preflights; after: the response's headers.
    Without origins nothing is registered: no call pays for a feature that is off."""
    if not cors.origins:
        return
    app.before_request(_answer_preflight)
    app.after_request(_mark_allowed)


def _listed_origin() -> str | None:
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith("/v1/"):
        return None
    return origin if origin in proxy_state().settings.cors.origins else None


def _answer_preflight() -> Response | None:
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    if _listed_origin() is None:
        return None
    answer = Response(status=204)
    answer.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    answer.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    answer.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return answer


def _mark_allowed(response: Response) -> Response:
    origin = _listed_origin()
    response.vary.add("Origin")  # caches keep one answer per origin
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = REQUEST_ID
    return response
