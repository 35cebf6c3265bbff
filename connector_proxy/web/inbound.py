"""Inbound events: ``POST /v1/inbound/<connector>/<trigger>[/<subscription>]`` for webhooks, and
``GET /v1/events[/<id>]`` to see where each event's delivery stands.

The webhook route needs no API key (a partner cannot hold one): the subscription's verifier
checks every request, and 202 is answered only once the events are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, Response, request

from connector_proxy.errors import (
    BAD_REQUEST,
    EVENT_NOT_FOUND,
    INVALID_EVENT,
    SUBSCRIPTION_NOT_FOUND,
    TRIGGER_FAILED,
)
from connector_proxy.events.model import STATES
from connector_proxy.openapi import LIST_OF_OBJECTS, OBJECT
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.triggers import INVALID_SIGNATURE, REQUEST_EXPIRED, InboundRequest
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

inbound = Blueprint("inbound", __name__, url_prefix="/v1")
MAX_LIMIT = 1000
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
    errors=(SUBSCRIPTION_NOT_FOUND, INVALID_SIGNATURE, REQUEST_EXPIRED, INVALID_EVENT, TRIGGER_FAILED),
    tag="events",
    request_content=ANY_BODY,
)
def receive(connector: str, trigger: str, subscription: str | None = None) -> Response:
    """A webhook's request: verified, validated, mapped to a message and stored, then answered 202.

    Each event is listed with ``duplicate: true`` when it was stored before (a replay): it is not
    stored or delivered again.
    """
    events = proxy_state().events
    found = events.webhook(f"{connector}/{trigger}", subscription)
    if found is None:
        named = f"{connector}/{trigger}" + (f" subscription {subscription!r}" if subscription else "")
        return error_response(CommandError(SUBSCRIPTION_NOT_FOUND, f"No webhook subscription for {named}"))
    try:
        received = events.receive(
            found, InboundRequest(request.get_data(), cast(Mapping[str, str], request.headers))
        )
    except CommandError as error:
        return error_response(error)
    answer = [
        {"id": event.id, "state": event.state, "duplicate": not new, "status_url": f"/v1/events/{event.id}"}
        for event, new in received
    ]
    return json_response({"events": answer}, status=202)


@inbound.get("/events/<event_id>")
@documented({200: OBJECT}, errors=(EVENT_NOT_FOUND,), tag="events")
def show_event(event_id: str) -> Response:
    """An event's subscription, message, state, attempts, last error and the host's answer."""
    event = proxy_state().events.get(event_id)
    if event is None:
        return error_response(CommandError(EVENT_NOT_FOUND, f"No event {event_id!r}"))
    return json_response(event.describe())


@inbound.get("/events")
@documented(
    {200: {"type": "object", "required": ["events"], "properties": {"events": LIST_OF_OBJECTS}}},
    query=(
        Query("state", {"enum": list(STATES)}, "only events in this state"),
        Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "at most this many (100)"),
    ),
    tag="events",
)
def list_events() -> Response:
    """Newest first; ``?state=pending|delivered|dead`` and ``?limit=`` (at most 1000)."""
    state = request.args.get("state")
    if state is not None and state not in STATES:
        return error_response(CommandError(BAD_REQUEST, f"state must be one of {', '.join(STATES)}"))
    limit_text = request.args.get("limit", "100")
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= MAX_LIMIT:
        return error_response(
            CommandError(BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_LIMIT}")
        )
    found = proxy_state().events.list(state, int(limit_text))
    return json_response({"events": [event.describe() for event in found]})
