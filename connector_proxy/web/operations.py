"""``GET /v1/operations``: what went wrong and where everything stands, for the operator.

Jobs (their delivery, attempts, last error and the host's answer), events
(pending, dead and why), subscriptions (a poller's last poll, lag and failures
in a row), isolated workers (alive, restarts, limits hit) and counts of what
needs attention. The operations page at ``/operations`` shows the same data,
with the actions beside each record.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request

from connector_proxy.events.model import DEAD
from connector_proxy.events.model import STATES as EVENT_STATES
from connector_proxy.host.error_codes import BAD_REQUEST
from connector_proxy.jobs.model import STATES as JOB_STATES
from connector_proxy.jobs.model import UNDELIVERABLE, Job
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.triggers import POLLER
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.openapi import OBJECT
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import ProxyState, proxy_state

operations = Blueprint("operations", __name__, url_prefix="/v1")
JOB_FILTERS = (*JOB_STATES, UNDELIVERABLE)  # a job's state, or its delivery's
SHOWN = 100  # records of each kind, newest first
SCANNED = 1000  # jobs looked through for undeliverable callbacks (the store indexes jobs by state only)
LOST = ("crashed", "timed_out", "protocol_errors", "failed_to_start", "over_limit")


@operations.get("/operations")
@documented(
    {200: OBJECT},
    errors=(BAD_REQUEST,),
    query=(
        Query(
            "jobs", {"enum": list(JOB_FILTERS)}, "only jobs in this state (or with undeliverable callbacks)"
        ),
        Query("events", {"enum": list(EVENT_STATES)}, "only events in this state"),
    ),
    tag="operations",
)
def show_operations() -> Response:
    """Jobs, events, subscriptions and isolated workers, with counts of what needs attention."""
    try:
        jobs, events = operations_filters()
    except CommandError as error:
        return error_response(error)
    return json_response(operations_now(proxy_state(), jobs, events))


def operations_filters() -> tuple[str | None, str | None]:
    """The request's ``?jobs=`` and ``?events=`` filters; a CommandError naming one that is wrong."""
    jobs, events = request.args.get("jobs") or None, request.args.get("events") or None
    if jobs is not None and jobs not in JOB_FILTERS:
        raise CommandError(BAD_REQUEST, f"jobs must be one of {', '.join(JOB_FILTERS)}")
    if events is not None and events not in EVENT_STATES:
        raise CommandError(BAD_REQUEST, f"events must be one of {', '.join(EVENT_STATES)}")
    return jobs, events


def operations_now(state: ProxyState, jobs: str | None = None, events: str | None = None) -> dict[str, Any]:
    """Everything the operations view shows, read now (the stores for jobs, events and polls; this
    daemon process for its isolated workers)."""
    job_counts, event_counts = state.jobs.counts(), state.events.counts()
    undeliverable = _undeliverable(state)
    found_jobs = undeliverable if jobs == UNDELIVERABLE else state.jobs.list(jobs, SHOWN)
    subscriptions = subscriptions_now(state)
    workers = [{"connector": name, **pool.health()} for name, pool in sorted(state.services.pools.items())]
    return {
        "attention": {
            "undeliverable_jobs": len(undeliverable),
            "recovering_jobs": state.jobs.recovering(),  # queued again after their process died
            "dead_events": event_counts.get(DEAD, 0),
            "failing_pollers": sum(1 for s in subscriptions if (s["poll"] or {}).get("failures_in_a_row")),
            "failing_registrations": sum(
                1 for s in subscriptions if (s["registration"] or {}).get("state") == "failing"
            ),
            "workers_lost": sum(sum(w[kind] for kind in LOST) for w in workers),
        },
        "jobs": {
            "counts": job_counts,
            "filter": jobs,
            "shown": [job.describe() for job in found_jobs[:SHOWN]],
        },
        "events": {
            "counts": event_counts,
            "filter": events,
            "shown": [event.describe() for event in state.events.list(events, SHOWN)],
        },
        "subscriptions": subscriptions,
        "workers": workers,
    }


def _undeliverable(state: ProxyState) -> list[Job]:
    """The jobs whose callbacks the host never took, among the newest ``SCANNED``, newest first."""
    return [job for job in state.jobs.list(None, SCANNED) if job.delivery.state == UNDELIVERABLE]


def subscriptions_now(state: ProxyState) -> list[dict[str, Any]]:
    """Configured subscriptions (polls and registrations at their sources), then removed ones whose
    registration record is kept."""
    registrations = state.events.registrations()
    shown = _subscriptions(state)
    for entry in shown:
        record = registrations.pop(entry["name"], None)
        entry["registration"] = record.describe() if record is not None else None
    for name, record in sorted(registrations.items()):  # gone from plugins.toml
        shown.append(
            {
                "name": name,
                "trigger": record.trigger,
                "kind": None,
                "message": None,
                "interval": None,
                "poll": None,
                "lag_seconds": None,
                "registration": record.describe(),
            }
        )
    return shown


def _subscriptions(state: ProxyState) -> list[dict[str, Any]]:
    polls, now = state.events.polls(), time.time()
    shown = []
    for subscription in state.events.subscriptions.values():
        poller = subscription.trigger.trigger.kind == POLLER
        record = polls.get(subscription.name) if poller else None
        last_ok = (record or {}).get("last_ok_at")
        shown.append(
            {
                "name": subscription.name,
                "trigger": subscription.trigger.id,
                "kind": subscription.trigger.trigger.kind,
                "message": subscription.message,
                "interval": subscription.interval if poller else None,
                "poll": record,
                "lag_seconds": round(now - last_ok, 1) if last_ok else None,  # since its last good poll
            }
        )
    return shown
