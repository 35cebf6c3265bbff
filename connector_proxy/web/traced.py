"""A span for each request, continuing the caller's W3C ``traceparent`` (when tracing is on)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, g, request

from connector_proxy.sdk import tracing


def trace_requests(app: Flask, environ: Mapping[str, str]) -> None:
    """Open a server span before each request and close it after: named by the method and route,
    with the path (never the query: it may hold a key) and the status. Without tracing asked for in
    ``environ``, no hook is added: a request pays nothing for it."""
    if not tracing.wanted(environ):
        return

    @app.before_request
    def _open() -> None:
        g.trace = tracing.begin(
            request.method,
            "server",
            request.headers,
            http__request__method=request.method,
            url__path=request.path,
        )

    @app.after_request
    def _status(response: Response) -> Response:
        g.trace_status = response.status_code
        return response

    @app.teardown_request
    def _close(_error: BaseException | None) -> None:
        # the route's template, never the path asked for (unbounded, and it may carry anything)
        rule = request.url_rule.rule if request.url_rule is not None else None
        tracing.end(g.pop("trace", None), g.pop("trace_status", None), rule)
