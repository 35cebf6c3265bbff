"""``GET /v1/jobs/<id>`` and ``GET /v1/jobs``: polling, for clients no callback can reach; and an
operator's actions on a job (cancel one still queued, send a callback again)."""

from __future__ import annotations

from flask import Blueprint, Response

from connector_proxy.host.error_codes import CALLBACK_NOT_RESENDABLE, JOB_NOT_CANCELLABLE, JOB_NOT_FOUND
from connector_proxy.jobs.model import STATES
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import documented
from connector_proxy.web.listing import listing_queries, listing_query
from connector_proxy.web.openapi import LIST_OF_OBJECTS, OBJECT
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

jobs = Blueprint("jobs", __name__, url_prefix="/v1")


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
    query=listing_queries(STATES, "jobs"),
    tag="jobs",
)
def list_jobs() -> Response:
    """Newest first; ``?state=queued|running|succeeded|failed`` and ``?limit=`` (at most 1000)."""
    try:
        state, limit = listing_query(STATES)
    except CommandError as error:
        return error_response(error)
    found = proxy_state().jobs.list(state, limit)
    return json_response({"jobs": [job.describe(include_envelope=False) for job in found]})


@jobs.post("/jobs/<job_id>/cancel")
@documented({200: OBJECT}, errors=(JOB_NOT_FOUND, JOB_NOT_CANCELLABLE), tag="operations")
def cancel_job(job_id: str) -> Response:
    """Cancel a queued job: it fails with ``JobCancelled`` without running, and the host is told by its
    callback. The action is recorded in the job's ``actions``."""
    try:
        job = proxy_state().jobs.cancel(job_id, by="api")
    except CommandError as error:
        return error_response(error)
    return json_response(job.describe())


@jobs.post("/jobs/<job_id>/redeliver")
@documented({200: OBJECT}, errors=(JOB_NOT_FOUND, CALLBACK_NOT_RESENDABLE), tag="operations")
def redeliver_job(job_id: str) -> Response:
    """Send a finished job's callback again (undeliverable, or delivered and lost by the host): its
    delivery is pending again, due now. The action is recorded in the job's ``actions``."""
    try:
        job = proxy_state().jobs.redeliver(job_id, by="api")
    except CommandError as error:
        return error_response(error)
    return json_response(job.describe())
