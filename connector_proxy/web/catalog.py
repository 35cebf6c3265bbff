"""Discovery for hosts and operators; every answer was rendered at start-up."""

from __future__ import annotations

from flask import Blueprint, Response

from connector_proxy.errors import command_not_found
from connector_proxy.web.responses import error_response, json_response, raw_json
from connector_proxy.web.state import proxy_state

catalog = Blueprint("catalog", __name__, url_prefix="/v1")


@catalog.get("/commands")
def list_commands() -> Response:
    """The host's list shape; the host falls back to its built-ins if this fails."""
    return raw_json(proxy_state().registry.catalog_json)


@catalog.get("/commands/<connector>/<command>")
def describe_command(connector: str, command: str) -> Response:
    command_id = f"{connector}/{command}"
    description = proxy_state().registry.descriptions.get(command_id)
    if description is None:
        return error_response(command_not_found(command_id))
    return raw_json(description)


@catalog.get("/connectors")
def list_connectors() -> Response:
    """Every installed connector with its state, including those left out.

    Isolated connectors add their workers' health in this daemon process, read now.
    """
    state = proxy_state()
    pools = state.services.pools
    if not pools:
        return raw_json(state.registry.connectors_json)
    shown = [status.describe() for status in state.registry.statuses]
    for entry in shown:
        pool = pools.get(entry["name"])
        if pool is not None:
            entry["workers"] = pool.health()
    return json_response(shown)
