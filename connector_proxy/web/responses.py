"""JSON responses: every answer of the daemon is JSON, errors included."""

from __future__ import annotations

from typing import Any

from flask import Response

from connector_proxy import envelope
from connector_proxy.sdk.errors import CommandError

JSON = "application/json"


def json_response(document: Any, status: int = 200) -> Response:
    return Response(envelope.dumps(document), status=status, mimetype=JSON)


def raw_json(body: bytes, status: int = 200) -> Response:
    """For documents rendered once at start-up (the catalog)."""
    return Response(body, status=status, mimetype=JSON)


def error_response(error: CommandError) -> Response:
    """The host's envelope with the error set, at the error's own status."""
    return json_response(envelope.from_error(error), error.http_status)
