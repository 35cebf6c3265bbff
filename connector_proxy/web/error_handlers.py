"""Turn every failure outside a command into the host's envelope, never HTML."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from connector_proxy.host import error_codes
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.bounded import stop_reading
from connector_proxy.web.responses import error_response

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(sqlite3.Error, _store_failed)
    app.register_error_handler(Exception, _unexpected)


def _from_redis(failure: Exception) -> bool:
    """Whether a Redis store failed. Only a daemon with a Redis store imports redis (redis-py 8 costs
    ~105 ms of start-up and ~20 MiB, ~125 ms where OpenTelemetry's SDK is installed), so not here."""
    redis = sys.modules.get("redis")
    return redis is not None and isinstance(failure, redis.RedisError)


def _store_failed(failure: Exception) -> Response:
    """A full disk or a refusing Redis is a transient 503 with a declared code, never a 500."""
    log.error("the store could not write: %s: %s", type(failure).__name__, failure)
    reason = f"{type(failure).__name__}: {str(failure)[:120]}"  # SQLite and Redis name no secret here
    message = f"The store of jobs and events could not write ({reason}); nothing was kept, retry later"
    return error_response(CommandError(error_codes.STORE_UNAVAILABLE, message))


def _http_exception(exception: HTTPException) -> Response:
    status = exception.code or 500
    message = _MESSAGES.get(status, _generic)(exception)
    response = error_response(error_codes.http_refusal(status, message))
    allowed = getattr(exception, "valid_methods", None)  # a 405 says what the path does answer
    if allowed:
        response.headers["Allow"] = ", ".join(allowed)
    if status == 413:  # refused on its Content-Length: the body is not read, drained or waited for
        stop_reading(request.environ.get("gunicorn.socket"))
    return response


def _generic(exception: HTTPException) -> str:
    return exception.description or exception.name


_MESSAGES: dict[int, Callable[[HTTPException], str]] = {
    404: lambda _e: f"No endpoint {request.method} {request.path}",
    405: lambda _e: f"{request.path} does not answer {request.method}",
    413: lambda _e: f"The body is over the {request.max_content_length} bytes allowed",
}


def _unexpected(exception: Exception) -> Response:
    if _from_redis(exception):
        return _store_failed(exception)
    log.exception("unhandled error")
    return error_response(CommandError(error_codes.INTERNAL_ERROR, "The daemon failed; see its log"))
