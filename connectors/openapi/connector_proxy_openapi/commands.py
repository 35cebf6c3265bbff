"""Each operation a command: its parameters' schema, its declared errors, and the call it makes.

The call goes through :func:`connector_proxy.sdk.http.sending.send`, the http connector's own path:
the destination policy, timeouts, size limits, redirects, redaction, metrics and traces are theirs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from connector_proxy.sdk import Command, CommandError, Context, ErrorCode, Result
from connector_proxy.sdk.http import errors
from connector_proxy.sdk.http.sending import HEADER_VALUE, Outgoing, send
from connector_proxy_openapi import auth
from connector_proxy_openapi.operations import FORM, MULTIPART, Body, Operation, Parameter
from connector_proxy_openapi.refs import JsonSchema, Refs

BODY = "body"  # the parameter that carries a body which is not an object of fields


@dataclass(frozen=True)
class Plan:
    """How one command's parameters become a request."""

    method: str
    path: str
    places: Mapping[str, tuple[str, str]]  # parameter -> (path/query/header/cookie/body/field, wire name)
    unexploded: frozenset[str]  # query arrays sent comma-joined
    media_type: str | None
    documented: Mapping[int, ErrorCode]
    security: tuple[Mapping[str, Any], ...]
    schemes: Mapping[str, auth.Scheme] = field(default_factory=dict)


def build(
    refs: Refs,
    operation: Operation,
    name: str,
    security: tuple[Mapping[str, Any], ...],
    schemes: Mapping[str, auth.Scheme],
) -> Command:
    """The command of one operation (``name`` is its id, made unique by the caller)."""
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    places: dict[str, tuple[str, str]] = {}
    reached: set[str] = set()
    for parameter in operation.parameters:
        key = parameter.name if parameter.name not in places else f"{parameter.location}.{parameter.name}"
        properties[key] = _parameter_schema(refs, parameter, reached)
        places[key] = (parameter.location, parameter.name)
        if parameter.required:
            required.append(key)
    if operation.body is not None:
        _body_parameters(refs, operation.body, properties, required, places, reached)
    signed_by = auth.signed_in(schemes, security)
    if signed_by is not None:
        _token_parameters(signed_by, properties, places)
    schema: JsonSchema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if reached:
        schema["$defs"] = refs.closure(frozenset(reached))
    documented = _documented(operation)
    plan = Plan(
        operation.method,
        operation.path,
        places,
        frozenset(p.name for p in operation.parameters if p.location == "query" and not p.explode),
        operation.body.media_type if operation.body else None,
        {code.status: code for code in documented if code.status is not None},
        security,
        schemes,
    )

    def run(ctx: Context, **parameters: Any) -> Result:
        return call(ctx, plan, parameters)

    return Command(
        name=name,
        function=run,
        parameters=schema,
        description=_description(operation),
        errors=(*errors.ALL, *documented, *auth.errors_of(schemes, security)),
        deprecated="the document marks this operation deprecated" if operation.deprecated else None,
        output=_output(refs, operation),
        operation={"method": operation.method, "path": operation.path, "operationId": operation.operation_id},
    )


def _parameter_schema(refs: Refs, parameter: Parameter, reached: set[str]) -> JsonSchema:
    converted, keys = refs.schema(parameter.schema, parameter.base)
    reached |= keys
    schema = dict(converted) if isinstance(converted, Mapping) else {}
    if parameter.description:
        schema["description"] = parameter.description
    if parameter.deprecated:
        schema["deprecated"] = True
    schema["x-in"] = parameter.location  # where it travels, shown in the catalog
    if parameter.location in ("header", "cookie") and schema.get("type", "string") == "string":
        # a CR or LF would split the request: refused by validation, as the http connector's headers
        schema.setdefault("pattern", HEADER_VALUE)
        schema.setdefault("x-expected", "Latin-1 text on one line")
    return schema


def _body_parameters(
    refs: Refs,
    body: Body,
    properties: dict[str, JsonSchema],
    required: list[str],
    places: dict[str, tuple[str, str]],
    reached: set[str],
) -> None:
    """An object body's fields as parameters of their own, else the whole body as ``body``."""
    converted, keys = refs.schema(body.schema, body.base)
    reached |= keys
    target = _followed(refs, converted)
    fields = target.get("properties") if isinstance(target, Mapping) else None
    if isinstance(fields, Mapping) and fields and not set(fields) & set(properties) and _plain_object(target):
        for name, field_schema in fields.items():
            properties[name] = {**field_schema, "x-in": "body"} if isinstance(field_schema, Mapping) else {}
            places[name] = ("field", name)
        if body.required:
            required.extend(str(name) for name in target.get("required", ()) if name in fields)
        return
    properties[BODY] = {**converted, "x-in": "body", "description": body.description or "The request body."}
    places[BODY] = ("body", BODY)
    if body.required:
        required.append(BODY)


def _token_parameters(
    scheme: str, properties: dict[str, JsonSchema], places: dict[str, tuple[str, str]]
) -> None:
    """An operation signed in by authorization code takes the token set the host keeps (its sign-in
    ``<connector>/<scheme>``) and the secret's name, where a refreshed set is stored."""
    for name, schema in (
        (
            auth.TOKEN_SET,
            {"type": ["object", "string"], "description": f"The token set of the sign-in {scheme}."},
        ),
        (
            auth.TOKEN_SECRET,
            {"type": "string", "default": scheme, "description": "The host's secret holding it."},
        ),
    ):
        if name not in properties:  # an API's own parameter of that name keeps it
            properties[name] = {**schema, "x-in": "auth"}
            places[name] = ("auth", name)


def _followed(refs: Refs, schema: Any) -> Any:
    """A schema that is a reference, as the component it names."""
    for _ in range(64):
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return schema
        schema = refs.defs.get(ref.removeprefix("#/$defs/"), {})
    return schema


def _plain_object(schema: Mapping[str, Any]) -> bool:
    """Fields can stand alone only when nothing else constrains the object (no allOf, oneOf...)."""
    return schema.get("type", "object") in ("object", ["object"]) and not {
        "allOf", "anyOf", "oneOf", "not", "if", "$ref", "additionalProperties", "patternProperties",
    } & set(schema)  # fmt: skip


def _documented(operation: Operation) -> list[ErrorCode]:
    """A documented answer of 300 or more is a declared code (HttpError404), caught by models."""
    codes = []
    for response in operation.responses:
        if response.status.isdigit() and int(response.status) >= 300:
            status = int(response.status)
            text = response.description.strip() or "documented by the API"
            codes.append(
                ErrorCode(f"HttpError{status}", f"{text[:300]} (the upstream's body is carried)", status)
            )
    return codes


def _output(refs: Refs, operation: Operation) -> JsonSchema | None:
    """The first 2xx answer's schema: what the command answers."""
    success = [r for r in operation.responses if r.status.startswith("2") and r.schema is not None]
    if not success:
        return None
    first = min(success, key=lambda r: r.status)
    converted, keys = refs.schema(first.schema, first.base)
    if not isinstance(converted, Mapping):
        return None
    return {**converted, "$defs": refs.closure(keys)} if keys else dict(converted)


def _description(operation: Operation) -> str:
    said = operation.summary or operation.description or f"{operation.method} {operation.path}"
    named = f" (operationId {operation.operation_id})" if operation.operation_id else ""
    return f"{said.strip()}\n\n{operation.method} {operation.path}{named}"


def call(ctx: Context, plan: Plan, parameters: Mapping[str, Any]) -> Result:
    """Send the operation; a documented error status answers its declared code."""
    resources = ctx.resources
    path = plan.path
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    fields: dict[str, Any] = {}
    signed: dict[str, Any] = {}
    data: Any = None
    for key, value in parameters.items():
        if value is None:
            continue
        place, wire = plan.places[key]
        if place == "path":
            path = path.replace("{" + wire + "}", quote(_text(value), safe=""))
        elif place == "query":
            query[wire] = _query_value(value, wire in plan.unexploded)
        elif place == "header":
            headers[wire] = _text(value)
        elif place == "cookie":
            cookies[wire] = _text(value)
        elif place == "field":
            fields[wire] = value
        elif place == "auth":
            signed[wire] = value
        else:
            data = value
    outgoing_parts = {"header": headers, "query": query, "cookie": cookies}
    basic = auth.apply(ctx, plan.schemes, plan.security, outgoing_parts, signed)
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={quote(value, safe='')}" for name, value in cookies.items())
    if fields:
        data = fields
    body_format = _body_format(plan.media_type, data)
    if body_format == "raw" and plan.media_type:
        headers.setdefault("Content-Type", plan.media_type)
    outgoing = Outgoing(
        method=plan.method,
        url=resources.base_url + path,
        headers=headers,
        params=query,
        data=data,
        body_format=body_format,
        auth=basic,
        timeout=resources.max_timeout,
    )
    try:
        return send(ctx, outgoing)
    except CommandError as error:
        documented = plan.documented.get(error.http_status)
        if error.declared is errors.HTTP_ERROR and documented is not None:
            raise CommandError(
                documented, error.message, http_status=error.http_status, body=error.body
            ) from None
        raise


def _body_format(media_type: str | None, data: Any) -> str:
    if data is None:
        return "none"
    if media_type == FORM:
        return "form"
    if media_type == MULTIPART:
        return "multipart"
    if media_type is None or media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    return "raw"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_value(value: Any, joined: bool) -> Any:
    if isinstance(value, list):
        items = [_text(item) for item in value]
        return ",".join(items) if joined else items
    return _text(value)
