"""``GET /v1/typeahead/<category>?prefix=&limit=``: suggestions for form fields as the user types.

A SpiffWorkflow backend sends no API key here, so the route checks it itself:
with a valid key every category is served; without one, only those the
operator opened by naming them in ``[connectors.<name>.typeahead]`` (any other
is a 404, as if it did not exist). Categories are declared with
``@connector.typeahead`` and asked for by ``<connector>/<name>`` or by a
one-segment name (``<connector>.<name>``, or the operator's), the only form a
SpiffWorkflow backend's relay passes on; the answer is a JSON list of at most
``limit`` items. Each runs within ``limits.typeahead_timeout`` and its answer is
kept ``limits.typeahead_cache_seconds`` per worker process.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from connector_proxy.calls.registry import BoundTypeahead
from connector_proxy.host.error_codes import (
    INTERNAL_ERROR,
    INVALID_PARAMETERS,
    OUTBOUND_REFUSALS,
    PROXY_FAILURES,
    TYPEAHEAD_NOT_FOUND,
    outbound_refusal,
)
from connector_proxy.sdk.context import Context, TaskLog
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.invocation import Crashed, Raised, Refused, Returned, guarded
from connector_proxy.web import proxied
from connector_proxy.web.auth import carries_a_key
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

typeahead = Blueprint("typeahead", __name__, url_prefix="/v1")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PREFIX = 256  # characters: a form field's text, not a document


@typeahead.get("/typeahead/<path:category>")
@documented(
    {200: {"type": "array"}},
    errors=(
        TYPEAHEAD_NOT_FOUND,
        INVALID_PARAMETERS,
        INTERNAL_ERROR,
        *OUTBOUND_REFUSALS.values(),
        *PROXY_FAILURES,
    ),
    query=(
        Query("prefix", {"type": "string", "maxLength": MAX_PREFIX}, "what the user typed"),
        Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "at most this many (100)"),
    ),
    tag="catalog",
)
def suggest(category: str) -> Response:
    """Suggestions for a form field, from a connector's typeahead category."""
    state = proxy_state()
    try:
        bound = state.registry.typeahead(category)
        if bound is None and state.proxies.remotes:  # a category of a connector another proxy serves
            elsewhere = proxied.typeahead(state, category, carries_a_key(state.settings.auth))
            if elsewhere is not None:
                return elsewhere
        if bound is None or not (
            bound.id in state.registry.typeahead_open or carries_a_key(state.settings.auth)
        ):
            raise CommandError(TYPEAHEAD_NOT_FOUND, f"No typeahead category {category!r} is available")
        prefix, limit = _arguments()
        matches = state.suggestions.get_or_make((bound.id, prefix, limit), lambda: _run(bound, prefix, limit))
    except CommandError as error:
        return error_response(error)
    return json_response(matches)


def _arguments() -> tuple[str, int]:
    prefix = request.args.get("prefix", "")
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    problems = []
    if len(prefix) > MAX_PREFIX:
        problems.append({"field": "prefix", "problem": f"must be at most {MAX_PREFIX} characters"})
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else 0
    if not 1 <= limit <= MAX_LIMIT:
        problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {MAX_LIMIT}"})
    if problems:
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise CommandError(INVALID_PARAMETERS, f"Invalid parameters: {message}", details=problems)
    return prefix, limit


def _run(bound: BoundTypeahead, prefix: str, limit: int) -> list[object]:
    """Run a category as a command runs (``guarded``: within its deadline, the SDK's refusals named),
    in-process or, through its worker, isolated; a connector's bug is logged with its traceback."""
    ctx = Context(
        **bound.live.in_use(),  # one pair, even across a secret's refresh
        log=TaskLog(bound.logger),
        deadline=time.monotonic() + proxy_state().settings.limits.typeahead_timeout,
    )
    match guarded(ctx, f"typeahead {bound.id}", lambda: bound.typeahead.function(ctx, prefix, limit)):
        case Returned(result):
            return list(result.body)[:limit]
        case Raised(error):
            raise error
        case Refused(kind, reason):  # the SDK's bulkhead or line: as a command's call, and as isolated
            raise outbound_refusal(kind, reason)
        case Crashed(raised, _message):
            message = f"The typeahead {bound.id} failed ({raised}); see the daemon's log"
            raise CommandError(INTERNAL_ERROR, message)
    raise AssertionError("unreachable")
