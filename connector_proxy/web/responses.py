"""JSON responses: every answer of the daemon is JSON, errors included."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response

from connector_proxy.calls import envelope
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import unrenderable_answer
from connector_proxy.sdk.errors import CommandError

JSON = "application/json"
log = logging.getLogger(__name__)


def json_response(document: Any, status: int = 200) -> Response:
    try:
        return Response(jsontext.dumps(document), status=status, mimetype=JSON)
    except jsontext.Unrenderable as problem:  # the answer is lost; the host learns why, not a 500 page
        log.error("an answer could not be written: %s", problem)
        return error_response(unrenderable_answer(problem))
    except CommandError as refused:  # task data carried unread into the answer, refused once read
        return error_response(refused)


def raw_json(body: bytes, status: int = 200) -> Response:
    """For documents rendered once at start-up (the catalog)."""
    return Response(body, status=status, mimetype=JSON)


UNAUTHENTICATED = 401  # the one status the host's protocol gives a shape of its own


def error_response(error: CommandError) -> Response:
    """The host's envelope with the error set, at the error's own status (a 401 in the protocol's shape)."""
    if error.http_status == UNAUTHENTICATED:
        return json_response(envelope.unauthenticated(error), UNAUTHENTICATED)
    return json_response(envelope.from_error(error), error.http_status)
