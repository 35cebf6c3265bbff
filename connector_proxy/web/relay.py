"""``PUT /v1/relay/<job>?key=...``: a command's result, PUT back by the command itself, for the host.

The URL is handed to a command that calls back on its own (a SpiffWorkflow
package's ``execute_async``) in place of the host's callback URL; its key is
the credential, so no API key is asked. See :mod:`connector_proxy.jobs.relay`.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from connector_proxy.host.error_codes import INVALID_REQUEST_BODY, RELAY_NOT_FOUND
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

relay = Blueprint("relay", __name__, url_prefix="/v1")
KEY = Query("key", {"type": "string"}, "The key the relay URL was handed out with.", required=True)
TAKEN = {
    "type": "object",
    "required": ["ok", "job_id", "state"],
    "properties": {"ok": {"const": True}, "job_id": {"type": "string"}, "state": {"type": "string"}},
}


@relay.put("/relay/<job_id>")
@documented({200: TAKEN}, errors=(RELAY_NOT_FOUND, INVALID_REQUEST_BODY), query=(KEY,), tag="jobs")
def relay_result(job_id: str) -> Response:
    """Take the result a command PUT back (any shape a SpiffWorkflow package answers in) and have it
    delivered to the host's callback URL with the configured credentials, retried like a job's.

    A second PUT for the same job is answered 200 and changes nothing.
    """
    raw = request.get_data(cache=False)  # over limits.max_body_bytes raises 413
    try:
        job = proxy_state().jobs.take_relayed(job_id, request.args.get("key", ""), raw)
    except CommandError as error:
        return error_response(error)
    return json_response({"ok": True, "job_id": job.id, "state": job.state})
