"""How commands are described to hosts: the list shape the host's editor reads,
with each parameter's JSON Schema, description and default as extra keys."""

from __future__ import annotations

from typing import Any

from connector_proxy.calls.registry import BoundAuth, BoundCommand
from connector_proxy.sdk.parameters import JsonSchema

_HOST_TYPES = {"string": "str", "integer": "int", "boolean": "bool"}
# ids a SpiffWorkflow backend runs itself and never sends to a proxy (spiff-arena's
# connectors/http_connector.py, d7678cf); their V2 forms come to the http connector
RUN_BY_HOST = frozenset(
    f"http/{method}Request" for method in ("Get", "Post", "Put", "Patch", "Delete", "Head")
)
RUN_BY_HOST_REASON = (
    "a SpiffWorkflow backend runs this id itself and never sends it to the proxy: the proxy's"
    " destination policy, limits and error codes do not apply"
)


def run_by_host(command_id: str) -> str | None:
    """Why a host runs this id itself, with the id to call instead; None for the proxy's own."""
    if command_id not in RUN_BY_HOST:
        return None
    return f"{RUN_BY_HOST_REASON}; call {command_id}V2 to have them"


def host_type(schema: JsonSchema) -> str:
    """The host editor knows only str, int, bool and any; of several types, the first is shown."""
    declared = schema.get("type")
    first = declared[0] if isinstance(declared, list) and declared else declared
    return _HOST_TYPES.get(str(first), "any")


def command_entry(command_id: str, bound: BoundCommand) -> dict[str, Any]:
    """One element of ``GET /v1/commands``."""
    schema = bound.command.parameters
    required = set(schema.get("required", ()))
    parameters = []
    for name, parameter_schema in schema.get("properties", {}).items():
        entry: dict[str, Any] = {
            "id": name,
            "type": host_type(parameter_schema),
            "required": name in required,
            "description": parameter_schema.get("description", ""),
            "schema": parameter_schema,
        }
        if "default" in parameter_schema:
            entry["default"] = parameter_schema["default"]
        if parameter_schema.get("deprecated") is True:  # JSON Schema's own keyword; the new name beside it
            entry["deprecated"] = True
            entry["replaced_by"] = parameter_schema.get("replaced_by")
        parameters.append(entry)
    described: dict[str, Any] = {
        "id": command_id,
        "description": bound.command.description,
        "parameters": parameters,
        "errors": [code.describe() for code in bound.command.errors],
        "alias_of": None if command_id == bound.id else bound.id,
        "run_by_host": command_id in RUN_BY_HOST,
        "asynchronous": bound.command.asynchronous,
        "deprecated": bound.command.deprecated,
        "replaced_by": bound.command.replaced_by,
        "since": bound.command.since,
        "output_schema": bound.command.output,
    }
    if bound.command.operation is not None:  # built from an OpenAPI document: the operation it calls
        described["operation"] = dict(bound.command.operation)
    return described


def full_description(command_id: str, bound: BoundCommand) -> dict[str, Any]:
    """``GET /v1/commands/<connector>/<command>``: the entry plus its whole schema."""
    entry = command_entry(command_id, bound)
    entry["connector"] = bound.connector
    entry["aliases"] = [f"{bound.connector}/{alias}" for alias in bound.command.aliases]
    entry["parameters_schema"] = bound.command.parameters
    return entry


def auth_entry(bound: BoundAuth) -> dict[str, Any]:
    """One element of ``GET /v1/auths``, in the host's shape (id and parameters) with extra keys."""
    return {
        "id": bound.id,
        "parameters": [],
        "description": bound.auth.description,
        "flow": bound.auth.flow,
        "scopes": list(bound.auth.scopes),
    }
