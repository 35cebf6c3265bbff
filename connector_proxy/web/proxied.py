"""Calls, typeahead and sign-ins of commands another connector proxy serves ([proxies.<name>]).

A request that came through a proxy (``Connector-Proxy-Via``) is served from
this daemon's own connectors only: its catalog lists them alone, and a call
for a remote command is refused (``ProxyChain``), so no chain or loop forms.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Response, request

from connector_proxy import metrics
from connector_proxy.calls.call import Call, check
from connector_proxy.concurrency import unless_client_leaves
from connector_proxy.errors import PROXY_CHAIN, PROXY_UNAVAILABLE
from connector_proxy.proxies.calls import Passed, forward_call, forward_typeahead, redirect_location
from connector_proxy.proxies.catalogs import RemoteCommand
from connector_proxy.proxies.client import VIA_HEADER, Remote
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import UnsafeSegment, url_path
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import ProxyState

log = logging.getLogger(__name__)


def came_through_a_proxy() -> bool:
    return VIA_HEADER in request.headers


def catalog_json(state: ProxyState) -> bytes:
    """The catalog a host sees: ours and the remotes'; to another proxy, ours alone."""
    return state.registry.catalog_json if came_through_a_proxy() else state.proxies.view.catalog_json


def call(state: ProxyState, command_id: str, body: bytes, payload: Any) -> Response | None:
    """The answer to a call of a remote command; None when no remote serves ``command_id``."""
    found = state.proxies.find(command_id)
    if found is None:
        awaited = state.proxies.expected(command_id.partition("/")[0])
        if awaited is None:
            return None
        name = awaited.settings.name
        unread = (
            f"proxy {name} ({awaited.origin}): its catalog has not been read yet; GET /v1/proxies says why"
        )
        return error_response(CommandError(PROXY_UNAVAILABLE, unread))
    remote, command = found
    timer = metrics.CallTimer(command.connector, command_id.partition("/")[2])
    try:
        response = _answer(state, remote, command, body, payload)
        outcome, code = metrics.OK if response.status_code < 400 else metrics.PROXY_ERROR, ""
    except CommandError as error:
        response = error_response(error)
        outcome, code = metrics.PROXY_ERROR, error.declared.code
    except BaseException:  # ended under it (its client left): no longer in flight
        timer.done(metrics.ABANDONED, "")
        raise
    timer.done(outcome, code)
    elapsed = (time.perf_counter() - timer.started) * 1000
    via = f"via proxy {remote.settings.name}" + (f" {code}" if code else "")
    log.info("%r -> %s %s in %.1f ms", command_id, response.status_code, via, elapsed)
    return response


def _answer(state: ProxyState, remote: Remote, command: RemoteCommand, body: bytes, payload: Any) -> Response:
    if came_through_a_proxy():
        served = f"{command.id} is served by proxy {remote.settings.name}"
        chain = f"{served}: a call that came through another proxy is not passed on again"
        raise CommandError(PROXY_CHAIN, chain)
    check(Call.read(command.id, payload, None, command.optional), command.validator)  # its parameters
    if remote.settings.mode == "redirect":
        location = redirect_location(remote, url_path("v1", "do", *command.id.split("/")))
        response = json_response({"location": location}, remote.settings.redirect_status)
        response.headers["Location"] = location
        return response
    client = request.environ.get("gunicorn.socket")  # a call whose client hung up is ended, not finished
    timeout = state.settings.limits.command_timeout
    prefer = request.headers.get("Prefer")
    return _response(
        unless_client_leaves(client, lambda: forward_call(remote, command.id, body, prefer, timeout))
    )


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
    return _response(forward_typeahead(remote, path, query, timeout, with_key))


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


def _response(passed: Passed) -> Response:
    return Response(passed.body, status=passed.status, content_type=passed.media_type, headers=passed.headers)
