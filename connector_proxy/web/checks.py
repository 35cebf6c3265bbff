"""``POST /v1/connectors/<name>/check``: run a connector's live check of its credentials, now.

The check may call out (an identity, each configured destination), so it sits behind the API key
like any call, runs within ``limits.check_timeout``, and ends when its client hangs up.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from connector_proxy.calls.live_checks import run_check
from connector_proxy.host.error_codes import CONNECTOR_NOT_FOUND
from connector_proxy.process.concurrency import unless_client_leaves
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import documented
from connector_proxy.web.openapi import OBJECT
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

checks = Blueprint("checks", __name__, url_prefix="/v1")


@checks.post("/connectors/<name>/check")
@documented({200: OBJECT}, errors=(CONNECTOR_NOT_FOUND,), tag="operations")
def check_connector(name: str) -> Response:
    """Run the connector's live check: 200 with its ``state`` (ok, failed, not_offered, unavailable),
    ``message`` and ``seconds``; a failed check is an answer, not an error of this route."""
    return checked(name)


def checked(name: str) -> Response:
    """The answer to a request for connector ``name``'s live check (this route's and the page's)."""
    state = proxy_state()
    client = request.environ.get("gunicorn.socket")
    timeout = state.settings.limits.check_timeout
    outcome = unless_client_leaves(client, lambda: run_check(state.registry, name, timeout))
    if outcome is None:
        return error_response(CommandError(CONNECTOR_NOT_FOUND, f"No connector named {name!r} is installed"))
    return json_response(outcome.describe())
