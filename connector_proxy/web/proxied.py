"""Typeahead and sign-ins of commands another connector proxy serves ([proxies.<name>]); their calls
are dispatched by :mod:`connector_proxy.calls.dispatch` and answered here as the remote answered.

A request that came through a proxy (``Connector-Proxy-Via``) is served from
this daemon's own connectors only: its catalog lists them alone, and a call
for a remote command is refused (``ProxyChain``), so no chain or loop forms.
"""

from __future__ import annotations

from flask import Response, request

from connector_proxy.proxies.calls import Passed, forward_typeahead, redirect_location
from connector_proxy.proxies.client import VIA_HEADER
from connector_proxy.sdk.paths import UnsafeSegment, url_path
from connector_proxy.web.state import ProxyState


def came_through_a_proxy() -> bool:
    return VIA_HEADER in request.headers


def catalog_json(state: ProxyState) -> bytes:
    """The catalog a host sees: ours and the remotes'; to another proxy, ours alone."""
    return state.registry.catalog_json if came_through_a_proxy() else state.proxies.view.catalog_json


def typeahead(state: ProxyState, category: str, with_key: bool) -> Response | None:
    """A remote's suggestions for a category of a connector it serves; None when none does."""
    connector = category.partition("/")[0] if "/" in category else category.partition(".")[0]
    remote = None if came_through_a_proxy() else state.proxies.serving(connector)
    if remote is None:
        return None
    try:
        path = url_path("v1", "typeahead", *category.split("/"))
    except UnsafeSegment:
        return None  # a category no one offers (the caller's 404): nothing is sent
    query = request.query_string
    timeout = state.settings.limits.typeahead_timeout
    return passed_response(forward_typeahead(remote, path, query, timeout, with_key))


def sign_in(state: ProxyState, connector: str, auth: str) -> Response | None:
    """A sign-in a remote offers starts there: the browser is sent to it, query and all."""
    remote = None if came_through_a_proxy() else state.proxies.serving(connector)
    if remote is None:
        return None
    try:
        path = url_path("v1", "auth", connector, auth)
    except UnsafeSegment:
        return None  # not a sign-in anyone offers: the caller's 404
    response = Response(status=307)
    response.headers["Location"] = redirect_location(remote, path, request.query_string)
    return response


def passed_response(passed: Passed) -> Response:
    return Response(passed.body, status=passed.status, content_type=passed.media_type, headers=passed.headers)
