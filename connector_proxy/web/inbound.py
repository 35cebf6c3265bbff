"""Inbound events: ``POST /v1/inbound/<connector>/<trigger>[/<subscription>]`` for webhooks, and
``GET /v1/events[/<id>]`` to see where each event's delivery stands.

The webhook route needs no API key (a partner cannot hold one): the subscription's verifier
checks every request, and 202 is answered only once the events are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from connector_proxy.events.model import STATES
from connector_proxy.host.error_codes import (
    EVENT_NOT_DEAD,
    EVENT_NOT_FOUND,
    INBOUND_BUSY,
    SUBSCRIPTION_NOT_FOUND,
    SUBSCRIPTION_NOT_REGISTERED,
    WEBHOOK_REFUSALS,
)
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path
from connector_proxy.sdk.triggers import InboundRequest
from connector_proxy.web.bounded import stop_reading
from connector_proxy.web.documented import documented
from connector_proxy.web.listing import listing_queries, listing_query
from connector_proxy.web.openapi import LIST_OF_OBJECTS, OBJECT
from connector_proxy.web.operations import subscriptions_now
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

inbound = Blueprint("inbound", __name__, url_prefix="/v1")
ANY_BODY: dict[str, Any] = {"application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}}
ACCEPTED_EVENTS = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": LIST_OF_OBJECTS},
}


@inbound.post("/inbound/<connector>/<trigger>")
@inbound.post("/inbound/<connector>/<trigger>/<subscription>")
@documented(
    {202: ACCEPTED_EVENTS},
    errors=WEBHOOK_REFUSALS,
    tag="events",
    request_content=ANY_BODY,
)
def receive(connector: str, trigger: str, subscription: str | None = None) -> Response:
    """A webhook's request: verified, validated, mapped to a message and stored, then answered 202.

    No key guards it, so its cost is bounded before the signature is checked: a body over
    ``events.max_body_bytes`` is refused on its Content-Length (413) unread, and a worker reads and
    verifies at most ``events.max_unverified`` such requests at once and
    ``events.unverified_bytes_per_second`` of their bodies (503 ``InboundBusy`` beyond, unread).

    Each event is listed with ``duplicate: true`` when it was stored before (a replay): it is not
    stored or delivered again.
    """
    state = proxy_state()
    events = state.events
    found = events.webhook(f"{connector}/{trigger}", subscription)
    if found is None:
        named = f"{connector}/{trigger}" + (f" subscription {subscription!r}" if subscription else "")
        return error_response(CommandError(SUBSCRIPTION_NOT_FOUND, f"No webhook subscription for {named}"))
    limits = state.settings.events
    request.max_content_length = limits.max_body_bytes  # 413 on Content-Length, unread
    if (request.content_length or 0) > limits.max_body_bytes:
        raise RequestEntityTooLarge()  # before it spends any of the budget below
    size = request.content_length or limits.max_body_bytes
    if not state.unverified_bytes.take(size):
        return _busy(
            f"over the {limits.unverified_bytes_per_second} unverified bytes a second of this worker"
        )
    if not state.unverified.acquire(blocking=False):
        return _busy(f"{limits.max_unverified} webhook requests are being verified here")
    try:
        headers = cast(Mapping[str, str], request.headers)
        received = events.receive(found, InboundRequest(request.get_data(), headers))
    except CommandError as error:
        return error_response(error)
    finally:
        state.unverified.release()
    answer = [
        {
            "id": event.id,
            "state": event.state,
            "duplicate": not new,
            "status_url": url_path("v1", "events", event.id),
        }
        for event, new in received
    ]
    return json_response({"events": answer}, status=202)


def _busy(why: str) -> Response:
    """Refused before a byte of the body is read: the connection closes, nothing is drained."""
    response = error_response(CommandError(INBOUND_BUSY, f"Busy: {why}; retry later"))
    stop_reading(request.environ.get("gunicorn.socket"))  # gunicorn then closes the connection
    return response


@inbound.get("/events/<event_id>")
@documented({200: OBJECT}, errors=(EVENT_NOT_FOUND,), tag="events")
def show_event(event_id: str) -> Response:
    """An event's subscription, message, state, attempts, last error and the host's answer."""
    event = proxy_state().events.get(event_id)
    if event is None:
        return error_response(CommandError(EVENT_NOT_FOUND, f"No event {event_id!r}"))
    return json_response(event.describe())


@inbound.post("/events/<event_id>/retry")
@documented({202: OBJECT}, errors=(EVENT_NOT_FOUND, EVENT_NOT_DEAD), tag="events")
def retry_event(event_id: str) -> Response:
    """Send a dead event again (after the host's model was fixed, say): pending and due now."""
    try:
        event = proxy_state().events.retry_by_id(event_id, by="api")
    except CommandError as error:
        return error_response(error)
    return json_response(event.describe(), status=202)


@inbound.get("/subscriptions")
@documented(
    {
        200: {
            "type": "object",
            "required": ["subscriptions"],
            "properties": {"subscriptions": LIST_OF_OBJECTS},
        }
    },
    tag="events",
)
def list_subscriptions() -> Response:
    """Each configured subscription and where its registration at its source stands (``registered``,
    ``pending``, ``failing`` with the source's answer, ``removed``; null for a trigger that does not
    register itself), and each removed one whose hook is still being torn down."""
    return json_response({"subscriptions": subscriptions_now(proxy_state())})


@inbound.post("/subscriptions/<name>/register")
@documented({202: OBJECT}, errors=(SUBSCRIPTION_NOT_REGISTERED,), tag="events")
def register_subscription(name: str) -> Response:
    """Set a subscription up at its source again (torn down, then set up) at the registrar's next turn:
    after the source lost its hook, say."""
    try:
        record = proxy_state().events.register_again(name, by="api")
    except CommandError as error:
        return error_response(error)
    return json_response({"subscription": name, **record.describe()}, status=202)


@inbound.get("/events")
@documented(
    {200: {"type": "object", "required": ["events"], "properties": {"events": LIST_OF_OBJECTS}}},
    query=listing_queries(STATES, "events"),
    tag="events",
)
def list_events() -> Response:
    """Newest first; ``?state=pending|delivered|dead`` and ``?limit=`` (at most 1000)."""
    try:
        state, limit = listing_query(STATES)
    except CommandError as error:
        return error_response(error)
    found = proxy_state().events.list(state, limit)
    return json_response({"events": [event.describe() for event in found]})
