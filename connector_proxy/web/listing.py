"""What the listing routes (``GET /v1/jobs``, ``GET /v1/events``) take: ``?state=`` and ``?limit=``."""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from connector_proxy.host.error_codes import BAD_REQUEST
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import Query

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def listing_queries(states: Sequence[str], noun: str) -> tuple[Query, ...]:
    """The two query parameters, for the route's OpenAPI declaration."""
    return (
        Query("state", {"enum": list(states)}, f"only {noun} in this state"),
        Query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            f"at most this many ({DEFAULT_LIMIT})",
        ),
    )


def listing_query(states: Sequence[str]) -> tuple[str | None, int]:
    """The request's state (None: all) and limit; a CommandError naming the one that is wrong."""
    state = request.args.get("state")
    if state is not None and state not in states:
        raise CommandError(BAD_REQUEST, f"state must be one of {', '.join(states)}")
    limit_text = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise CommandError(BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return state, int(limit_text)
