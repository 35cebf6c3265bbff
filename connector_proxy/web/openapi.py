"""The OpenAPI 3.1 document of ``/v1/openapi.json``, generated from the routes and the registry.

Each route's answers are declared beside it (:mod:`connector_proxy.web.documented`);
each command's parameters schema becomes the request schema of its own
``/v1/do/<connector>/<command>`` path; each error code sits under the status
it is answered with. Built once, with the app: the registry does not change
while the daemon runs.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from connector_proxy import __version__
from connector_proxy.calls.registry import BoundCommand, Registry
from connector_proxy.config import Settings
from connector_proxy.host.error_codes import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    REQUEST_TIMEOUT,
    UNAUTHORIZED,
)
from connector_proxy.sdk.errors import ErrorCode
from connector_proxy.web.auth import HEADER, guarded
from connector_proxy.web.documented import RouteDoc, route_doc
from connector_proxy.web.responses import UNAUTHENTICATED

ANY: dict[str, Any] = {}
ERROR = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}, "details": ANY},
}
ENVELOPE = {
    "type": "object",
    "required": ["command_response", "error", "command_response_version", "spiff__logs"],
    "properties": {
        "command_response": {
            "type": "object",
            "required": ["body", "mimetype", "http_status"],
            "properties": {"body": ANY, "mimetype": {"type": "string"}, "http_status": {"type": "integer"}},
        },
        "error": {"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/Error"}]},
        "command_response_version": {"const": 2},
        "spiff__logs": {"type": "array", "items": {"type": "string"}},
    },
}
# the answer when a command renewed an OAuth token set: the envelope without spiff__logs, and beside it
# what the host stores (api_response: command_response and operator_identifier, its result variable)
REFRESHED = {
    "type": "object",
    "required": [
        *("command_response", "error", "command_response_version"),
        *("api_response", "refreshed_token_set", "auth"),
    ],
    "properties": {
        "command_response": {"$ref": "#/components/schemas/Envelope/properties/command_response"},
        "error": {"$ref": "#/components/schemas/Envelope/properties/error"},
        "command_response_version": {"const": 2},
        "api_response": {"type": "object", "required": ["body", "operator_identifier"]},
        "refreshed_token_set": {"type": "object"},
        "auth": {"type": "string"},
    },
}
ENVELOPE_REF = {"$ref": "#/components/schemas/Envelope"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
OBJECT: dict[str, Any] = {"type": "object"}
LIST_OF_OBJECTS: dict[str, Any] = {"type": "array", "items": OBJECT}
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")


def build(
    app: Flask,
    registry: Registry,
    settings: Settings,
    elsewhere: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole document; raises ValueError naming a route with no declaration. ``elsewhere``: the
    parameters schemas of commands other proxies serve, by id, documented beside ours."""
    commands = [*_command_schemas(registry), *_with_host_keys(elsewhere or {})]
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        doc = route_doc(view)
        if doc is None:
            raise ValueError(f"the route {rule.rule} has no @documented declaration")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = _CONVERTER.sub(r"{\1}", rule.rule)
            where = Where(rule, view, method)
            paths.setdefault(path, {})[method.lower()] = _operation(where, doc, settings)
            if doc.per_command:
                for command_id, schema in commands:
                    concrete = _CONVERTER.sub("{}", rule.rule).format(*command_id.split("/", 1))
                    operation = _operation(where, doc, settings, command_id, schema)
                    _describe_command(operation, registry.find(command_id))
                    paths.setdefault(concrete, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "connector-proxy",
            "version": __version__,
            "description": "Runs connector commands for BPMN hosts: the catalog, calls, jobs, sign-ins.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Envelope": ENVELOPE, "Error": ERROR, "RefreshedTokens": REFRESHED},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": HEADER}},
        },
    }


@dataclass(frozen=True)
class Where:
    """One method of one route, and the view that answers it."""

    rule: Rule
    view: Callable[..., Any]
    method: str


def _describe_command(operation: dict[str, Any], bound: BoundCommand | None) -> None:
    """What the catalog says of one command that the route cannot: deprecated, what its body holds."""
    if bound is None:
        return
    if bound.command.deprecated is not None:
        operation["deprecated"] = True
        operation["description"] = f"Deprecated: {bound.command.deprecated}"
    if bound.command.output is not None:
        body = {"properties": {"command_response": {"properties": {"body": bound.command.output}}}}
        answer = operation["responses"]["200"]["content"]["application/json"]
        others = [schema for schema in answer["schema"].get("anyOf", ()) if schema != ENVELOPE_REF]
        answer["schema"] = {"anyOf": [{"allOf": [ENVELOPE_REF, body]}, *others]}


def _operation(
    where: Where,
    doc: RouteDoc,
    settings: Settings,
    command_id: str | None = None,
    body_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rule, method = where.rule, where.method
    summary, _, description = (inspect.getdoc(where.view) or rule.endpoint).partition("\n")
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}:{command_id or rule.rule}",
        "summary": f"{command_id}: {summary}" if command_id else summary,
        "tags": [doc.tag],
        "responses": _responses(doc, _errors(rule, doc, method, settings)),
    }
    if description.strip():
        operation["description"] = description.strip()
    parameters = [] if command_id else [_path_parameter(name) for name in rule.arguments]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": q.required,
            "schema": q.schema,
            "description": q.description,
        }
        for q in doc.query
    ]
    if parameters:
        operation["parameters"] = sorted(parameters, key=lambda p: (p["in"], p["name"]))
    if method in ("POST", "PUT"):
        schema = body_schema if body_schema is not None else OBJECT
        content = doc.request_content or {"application/json": {"schema": schema}}
        operation["requestBody"] = {"required": True, "content": dict(content)}
    if _guarded(rule.rule, settings):
        operation["security"] = [{"apiKey": []}]
    return operation


def _errors(rule: Rule, doc: RouteDoc, method: str, settings: Settings) -> list[ErrorCode]:
    """The route's own codes, then those any route may meet."""
    codes = [*doc.errors, BAD_REQUEST, INTERNAL_ERROR]
    if rule.arguments:
        codes.append(NOT_FOUND)  # a parameter that holds an encoded "/" no longer matches the route
    if method in ("POST", "PUT"):
        codes += [PAYLOAD_TOO_LARGE, REQUEST_TIMEOUT]
    if _guarded(rule.rule, settings):
        codes.append(UNAUTHORIZED)
    return list(dict.fromkeys(codes))


def _responses(doc: RouteDoc, codes: Iterable[ErrorCode]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in doc.answers.items():
        if schema is None:
            responses[str(status)] = {"description": _STATUS_WORDS.get(status, "Answered")}
        else:
            content = {doc.media_type: {"schema": schema}}
            responses[str(status)] = {
                "description": _STATUS_WORDS.get(status, "Answered"),
                "content": content,
            }
    by_status: dict[int, list[str]] = {}
    for code in codes:
        if code.status is not None and str(code.status) not in responses:
            by_status.setdefault(code.status, []).append(code.code)
    for status, names in sorted(by_status.items()):
        schema = _unauthenticated(names) if status == UNAUTHENTICATED else _refusal(names)
        responses[str(status)] = {
            "description": ", ".join(names),
            "content": {"application/json": {"schema": schema}},
        }
    return responses


def _refusal(names: list[str]) -> dict[str, Any]:
    narrowed = {"properties": {"error": {"properties": {"error_code": {"enum": names}}}}}
    return {"allOf": [ENVELOPE_REF, {"properties": {"error": ERROR_REF}}, narrowed]}


def _unauthenticated(names: list[str]) -> dict[str, Any]:
    """The host's protocol: a 401 is an object whose ``error`` is a string."""
    return {
        "type": "object",
        "required": ["error", "error_code"],
        "properties": {"error": {"type": "string"}, "error_code": {"enum": names}},
    }


def _command_schemas(registry: Registry) -> Iterable[tuple[str, dict[str, Any]]]:
    """Each command's parameters schema, taking the host's ``spiff__*`` keys besides."""
    described = {cid: json.loads(text)["parameters_schema"] for cid, text in registry.descriptions.items()}
    return _with_host_keys(described)


def _with_host_keys(schemas: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[str, dict[str, Any]]]:
    for command_id, given in sorted(schemas.items()):
        schema = dict(given)
        schema.pop("$schema", None)
        schema["patternProperties"] = {**schema.get("patternProperties", {}), "^spiff__": ANY}
        yield command_id, schema


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _guarded(path: str, settings: Settings) -> bool:
    return bool(settings.auth.api_keys) and guarded(path, settings.auth)


_STATUS_WORDS = {200: "OK", 202: "Accepted: the result comes later", 302: "Redirect"}
