"""Discovery for hosts and operators; every answer was rendered at start-up."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import COMMAND_NOT_FOUND, command_not_found
from connector_proxy.process.concurrency import off_the_loop
from connector_proxy.web import openapi, proxied
from connector_proxy.web.documented import documented
from connector_proxy.web.openapi import LIST_OF_OBJECTS, OBJECT
from connector_proxy.web.responses import error_response, json_response, raw_json
from connector_proxy.web.state import ProxyState, proxy_state

catalog = Blueprint("catalog", __name__, url_prefix="/v1")


@catalog.get("/commands")
@documented({200: LIST_OF_OBJECTS}, tag="catalog")
def list_commands() -> Response:
    """The host's list shape; the host falls back to its built-ins if this fails."""
    return raw_json(proxied.catalog_json(proxy_state()))


@catalog.get("/commands/<connector>/<command>")
@documented({200: OBJECT}, errors=(COMMAND_NOT_FOUND,), tag="catalog")
def describe_command(connector: str, command: str) -> Response:
    """One command in full: its entry, connector, aliases and the JSON Schema calls are validated with."""
    command_id = f"{connector}/{command}"
    state = proxy_state()
    description = state.registry.descriptions.get(command_id)
    if description is None and not proxied.came_through_a_proxy():
        description = state.proxies.view.descriptions.get(command_id)
    if description is None:
        return error_response(command_not_found(command_id))
    return raw_json(description)


@catalog.get("/connectors")
@documented({200: LIST_OF_OBJECTS}, tag="catalog")
def list_connectors() -> Response:
    """Every installed connector with its state, including those left out.

    Isolated connectors add their workers' health in this daemon process, read now.
    """
    state = proxy_state()
    if not state.services.pools:
        return raw_json(state.registry.connectors_json)
    return json_response(connectors_now(state))


def connectors_now(state: ProxyState) -> list[dict[str, Any]]:
    """Every connector's status, an isolated one's with its workers' health and limits in this process
    (the list and the page both show these)."""
    shown = [status.describe() for status in state.registry.statuses]
    for entry in shown:
        pool = state.services.pools.get(entry["name"])
        if pool is not None:
            entry["workers"] = pool.health()
    return shown


@catalog.get("/proxies")
@documented({200: LIST_OF_OBJECTS}, tag="catalog")
def list_proxies() -> Response:
    """Every other connector proxy configured ([proxies.<name>]): its state, when its catalog was last
    read, how many commands it serves here, and its connectors another source serves instead."""
    return json_response([status.describe() for status in proxy_state().proxies.statuses.values()])


@catalog.get("/openapi.json")
@documented({200: OBJECT}, tag="catalog")
def openapi_document() -> Response:
    """This API as OpenAPI 3.1, each command with its own request schema; rendered at start-up, and
    again after another proxy's catalog changes (its commands are documented beside ours)."""
    state = proxy_state()
    if not state.proxies.remotes or proxied.came_through_a_proxy():
        return raw_json(state.openapi_json)
    view = state.proxies.view
    kept = _OPENAPI_WITH_REMOTES.get(id(state))
    if kept is None or kept[0] is not view:
        elsewhere = {command_id: command.parameters for command_id, command in view.commands.items()}
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        # thousands of remote commands take a while to document: not on the event loop
        document = off_the_loop(
            lambda: jsontext.dumps(openapi.build(app, state.registry, state.settings, elsewhere))
        )
        kept = _OPENAPI_WITH_REMOTES[id(state)] = (view, document)
    return raw_json(kept[1])


# per app: the document for the remote catalogs last seen (a view is replaced whole when one changes)
_OPENAPI_WITH_REMOTES: dict[int, tuple[object, bytes]] = {}
