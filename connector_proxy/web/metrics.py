"""``GET /metrics``: Prometheus text, behind the metrics key or the API keys."""

from __future__ import annotations

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST

from connector_proxy.host.error_codes import UNAUTHORIZED
from connector_proxy.sdk.errors import CommandError
from connector_proxy.telemetry import metrics as counted
from connector_proxy.web.auth import HEADER, key_matches
from connector_proxy.web.documented import documented
from connector_proxy.web.responses import error_response
from connector_proxy.web.state import proxy_state

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
@documented({200: {"type": "string"}}, errors=(UNAUTHORIZED,), media_type="text/plain", tag="operations")
def scrape() -> Response:
    """Every worker process's counts (calls, latency, in flight, refusals, callbacks, isolated workers)
    and the job and event stores' states."""
    state = proxy_state()
    keys = (state.settings.metrics.key,) if state.settings.metrics.key else state.settings.auth.api_keys
    if keys and not _offers_one_of(keys):
        return error_response(CommandError(UNAUTHORIZED, f"/metrics needs Authorization: Bearer or {HEADER}"))
    return Response(
        counted.exposition(state.jobs.counts, state.events.counts, state.jobs.recoveries),
        content_type=CONTENT_TYPE_LATEST,
    )


def _offers_one_of(keys: tuple[str, ...]) -> bool:
    """A Prometheus scrape sends ``Authorization: Bearer``; the API key header works too."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    offered = token.strip() if scheme.lower() == "bearer" else request.headers.get(HEADER)
    return offered is not None and key_matches(offered, keys)
