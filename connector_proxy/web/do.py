"""``POST /v1/do/<connector>/<command>``: the host's service-task call."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from connector_proxy.calls.dispatch import Answer, Incoming, JobAnswer, Redirected, dispatch
from connector_proxy.calls.executor import ACCEPTED
from connector_proxy.host import jsontext, task_data
from connector_proxy.host.error_codes import (
    CALL_FAILURES,
    COMMAND_NOT_FOUND,
    CONNECTOR_UNAVAILABLE,
    INVALID_CALLBACK_URL,
    INVALID_PARAMETERS,
    INVALID_REQUEST_BODY,
    PROXY_FAILURES,
)
from connector_proxy.proxies.calls import Passed
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web import proxied
from connector_proxy.web.documented import documented
from connector_proxy.web.openapi import ENVELOPE_REF
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

do = Blueprint("do", __name__, url_prefix="/v1")


@do.post("/do/<connector>/<command>")
@documented(
    {200: {"anyOf": [ENVELOPE_REF, {"$ref": "#/components/schemas/RefreshedTokens"}]}, 202: ENVELOPE_REF},
    errors=(
        INVALID_PARAMETERS,
        INVALID_REQUEST_BODY,
        INVALID_CALLBACK_URL,
        COMMAND_NOT_FOUND,
        CONNECTOR_UNAVAILABLE,
        *CALL_FAILURES,
        *PROXY_FAILURES,
    ),
    tag="calls",
    per_command=True,
)
def run_command(connector: str, command: str) -> Response:
    """Run a command: 200 with its envelope (the command's own error inside), or 202 and a job.

    With ``Prefer: respond-async``, or for a command declared asynchronous, the call is accepted at once
    and runs as a job; the result goes to ``spiff__callback_url`` and ``GET /v1/jobs/<id>``. A command
    another proxy serves ([proxies.<name>]) is validated here and passed on, or the host is redirected.
    """
    try:
        raw, payload = _json_body()
    except CommandError as error:
        return error_response(error)
    incoming = Incoming(
        f"{connector}/{command}",
        raw,
        payload,
        request.headers.get("Prefer"),
        proxied.came_through_a_proxy(),
        request.environ.get("gunicorn.socket"),
    )
    return _rendered(dispatch(proxy_state(), incoming))


def _rendered(answer: Answer) -> Response:
    """The dispatched call's answer as HTTP: a job's Location, a redirect's, a remote's as it came."""
    match answer:
        case Passed():
            return proxied.passed_response(answer)
        case Redirected(location, status):
            response = json_response({"location": location}, status)
            response.headers["Location"] = location
            return response
        case JobAnswer(outcome):
            response = json_response(outcome.envelope, outcome.status)
            if outcome.status == ACCEPTED:
                response.headers["Location"] = outcome.envelope["command_response"]["body"]["status_url"]
                response.headers["Preference-Applied"] = "respond-async"
            return response
        case _:
            return json_response(answer.envelope, answer.status)


def _json_body() -> tuple[bytes, Any]:
    """The body as it came (a remote command's call is passed on so) and as read."""
    raw = request.get_data(cache=False)  # over limits.max_body_bytes raises 413
    try:
        return raw, task_data.read_call(raw)  # spiff__task_data is carried unread
    except jsontext.NotStrictJson as problem:
        raise CommandError(INVALID_REQUEST_BODY, str(problem)) from None
