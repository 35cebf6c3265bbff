"""``GET /v1/jobs/<id>`` and ``GET /v1/jobs``: polling, for clients no callback can reach."""

from __future__ import annotations

from flask import Blueprint, Response, request

from connector_proxy.errors import BAD_REQUEST, JOB_NOT_FOUND
from connector_proxy.jobs.model import STATES
from connector_proxy.openapi import LIST_OF_OBJECTS, OBJECT
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

jobs = Blueprint("jobs", __name__, url_prefix="/v1")
MAX_LIMIT = 1000


@jobs.get("/jobs/<job_id>")
@documented({200: OBJECT}, errors=(JOB_NOT_FOUND,), tag="jobs")
def show_job(job_id: str) -> Response:
    """The job's state, timestamps, attempts, delivery, and once finished its envelope."""
    job = proxy_state().jobs.get(job_id)
    if job is None:
        return error_response(CommandError(JOB_NOT_FOUND, f"No job {job_id!r}"))
    return json_response(job.describe())


@jobs.get("/jobs")
@documented(
    {200: {"type": "object", "required": ["jobs"], "properties": {"jobs": LIST_OF_OBJECTS}}},
    query=(
        Query("state", {"enum": list(STATES)}, "only jobs in this state"),
        Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "at most this many (100)"),
    ),
    tag="jobs",
)
def list_jobs() -> Response:
    """Newest first; ``?state=queued|running|succeeded|failed`` and ``?limit=`` (at most 1000)."""
    state = request.args.get("state")
    if state is not None and state not in STATES:
        return error_response(CommandError(BAD_REQUEST, f"state must be one of {', '.join(STATES)}"))
    limit_text = request.args.get("limit", "100")
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= MAX_LIMIT:
        return error_response(
            CommandError(BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_LIMIT}")
        )
    found = proxy_state().jobs.list(state, int(limit_text))
    return json_response({"jobs": [job.describe(include_envelope=False) for job in found]})
