"""A document's operations in one shape, whatever its version: Swagger 2.0's ``in: body`` and
``formData`` parameters become a request body as OpenAPI 3 declares one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from connector_proxy.sdk.factories import CannotBuild
from connector_proxy_openapi.refs import Refs

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("path", "query", "header", "cookie")
JSON_TYPES = ("application/json",)
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# keywords of a Swagger 2.0 parameter that are its schema's (the rest say where and how it is sent)
_V2_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "items", "default", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "enum", "multipleOf",
    }
)  # fmt: skip
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# header parameters left out of commands: the first three OpenAPI says SHALL be ignored (the
# credentials and formats are the connector's), the rest are transport's (another virtual host)
IGNORED_HEADERS = frozenset(
    {"accept", "content-type", "authorization", "host", "content-length", "transfer-encoding", "connection"}
)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header, cookie
    schema: Any  # as the document gives it (converted by Refs.schema later)
    base: str  # the document its schema's refs are relative to
    required: bool = False
    description: str = ""
    deprecated: bool = False
    explode: bool = True  # a query array: repeated (true) or comma-joined (false)


@dataclass(frozen=True)
class Body:
    media_type: str
    schema: Any
    base: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Response:
    status: str  # "200", "2XX", "404", "default"
    description: str
    schema: Any | None
    base: str


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str
    operation_id: str | None
    summary: str
    description: str
    tags: tuple[str, ...]
    deprecated: bool
    parameters: tuple[Parameter, ...]
    body: Body | None
    responses: tuple[Response, ...]
    security: tuple[Mapping[str, Any], ...] | None  # None: the document's own applies
    produces: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """Its command's name before collisions: the operationId with '/' as '.' (one slash is the
        host's, between connector and command), else method and path."""
        if self.operation_id:
            return _UNSAFE.sub("_", self.operation_id.replace("/", ".")).strip("_") or "operation"
        return _UNSAFE.sub("_", f"{self.method.lower()} {self.path}").strip("_")


def operations(refs: Refs, content: Mapping[str, Any]) -> Iterator[Operation]:
    """Every operation of the document, in its order."""
    paths = content.get("paths") or {}
    v2 = refs.version == "2.0"
    for path, item_node in paths.items():
        item, base = refs.node(item_node)
        if not isinstance(item, Mapping):
            continue
        shared = list(item.get("parameters") or ())
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, Mapping):
                yield (_v2 if v2 else _v3)(refs, content, path, method, operation, shared, base)


def _common(operation: Mapping[str, Any]) -> dict[str, Any]:
    security = operation.get("security")
    return {
        "operation_id": operation.get("operationId") or None,
        "summary": str(operation.get("summary") or ""),
        "description": str(operation.get("description") or ""),
        "tags": tuple(str(tag) for tag in operation.get("tags") or ()),
        "deprecated": operation.get("deprecated") is True,
        "security": tuple(security) if isinstance(security, list) else None,
    }


def _merged(refs: Refs, shared: list[Any], own: list[Any], base: str) -> list[tuple[Mapping[str, Any], str]]:
    """The path's parameters and the operation's, the operation's winning by name and place."""
    merged: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
    for node in [*shared, *own]:
        parameter, where = refs.node(node, base)
        if not isinstance(parameter, Mapping) or "name" not in parameter or "in" not in parameter:
            raise CannotBuild("a parameter without name or in")
        name, location = str(parameter["name"]), str(parameter["in"])
        if location == "header" and name.lower() in IGNORED_HEADERS:
            continue  # never a parameter: a call cannot replace the credential or the Host
        merged[(name, location)] = (parameter, where)
    return list(merged.values())


def _v3(
    refs: Refs,
    content: Mapping[str, Any],
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared: list[Any],
    base: str,
) -> Operation:
    parameters = []
    for parameter, where in _merged(refs, shared, list(operation.get("parameters") or ()), base):
        location = str(parameter["in"])
        schema = parameter.get("schema")
        if schema is None and isinstance(parameter.get("content"), Mapping):  # a parameter as JSON text
            contents = list(parameter["content"].values())
            schema = contents[0].get("schema") if contents and isinstance(contents[0], Mapping) else None
        parameters.append(
            Parameter(
                name=str(parameter["name"]),
                location=location,
                schema=schema if schema is not None else {},
                base=where,
                required=parameter.get("required") is True or location == "path",
                description=str(parameter.get("description") or ""),
                deprecated=parameter.get("deprecated") is True,
                explode=parameter.get("explode", parameter.get("style", "form") == "form") is not False,
            )
        )
    body = None
    if operation.get("requestBody") is not None:
        request, where = refs.node(operation["requestBody"], base)
        media = request.get("content") or {}
        chosen = _choose(list(media))
        if chosen is not None:
            body = Body(
                media_type=_bare(chosen),
                schema=(media[chosen] or {}).get("schema", {}),
                base=where,
                required=request.get("required") is True,
                description=str(request.get("description") or ""),
            )
    responses = []
    for status, node in (operation.get("responses") or {}).items():
        answer, where = refs.node(node, base)
        media = answer.get("content") or {}
        chosen = _choose(list(media))
        schema = (media[chosen] or {}).get("schema") if chosen else None
        responses.append(Response(str(status), str(answer.get("description") or ""), schema, where))
    return Operation(
        method=method.upper(),
        path=path,
        parameters=tuple(parameters),
        body=body,
        responses=tuple(responses),
        **_common(operation),
    )


def _v2(
    refs: Refs,
    content: Mapping[str, Any],
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared: list[Any],
    base: str,
) -> Operation:
    consumes = list(operation.get("consumes") or content.get("consumes") or ["application/json"])
    parameters, form_fields = [], {}
    required_fields: list[str] = []
    body = None
    for parameter, where in _merged(refs, shared, list(operation.get("parameters") or ()), base):
        location = str(parameter["in"])
        name = str(parameter["name"])
        if location == "body":
            body = Body(
                _bare(_choose(consumes) or "application/json"),
                parameter.get("schema", {}),
                where,
                parameter.get("required") is True,
                str(parameter.get("description") or ""),
            )
            continue
        schema = {key: value for key, value in parameter.items() if key in _V2_SCHEMA_KEYS}
        if parameter.get("description"):
            schema["description"] = str(parameter["description"])
        if location == "formData":
            form_fields[name] = schema
            if parameter.get("required") is True:
                required_fields.append(name)
            continue
        parameters.append(
            Parameter(
                name=name,
                location=location,
                schema=schema,
                base=where,
                required=parameter.get("required") is True or location == "path",
                description=str(parameter.get("description") or ""),
                explode=parameter.get("collectionFormat") == "multi",
            )
        )
    if form_fields:
        files = any(field.get("type") == "file" for field in form_fields.values())
        media = MULTIPART if files or MULTIPART in consumes else FORM
        schema = {"type": "object", "properties": form_fields, "required": required_fields}
        body = Body(media, schema, base, bool(required_fields))
    responses = []
    for status, node in (operation.get("responses") or {}).items():
        answer, where = refs.node(node, base)
        responses.append(
            Response(str(status), str(answer.get("description") or ""), answer.get("schema"), where)
        )
    return Operation(
        method=method.upper(),
        path=path,
        parameters=tuple(parameters),
        body=body,
        responses=tuple(responses),
        **_common(operation),
    )


def _choose(media_types: list[str]) -> str | None:
    """The body's media type we send (or read), as the document writes it: JSON first, then form,
    multipart, then the first."""
    for wanted in (lambda m: m in JSON_TYPES or m.endswith("+json"), FORM.__eq__, MULTIPART.__eq__):
        for media in media_types:
            if wanted(_bare(media)):
                return media
    return media_types[0] if media_types else None


def _bare(media_type: str) -> str:
    """``application/json; charset=utf-8`` as ``application/json``."""
    return media_type.split(";")[0].strip().lower()


def default_base_url(content: Mapping[str, Any], version: str, location: str) -> str | None:
    """The document's first server (its variables at their defaults), else None; relative to a URL
    document's own address."""
    if version == "2.0":
        host = content.get("host")
        if not host:
            return None
        scheme = (content.get("schemes") or ["https"])[0]
        return f"{scheme}://{host}{content.get('basePath', '')}".rstrip("/")
    servers = content.get("servers") or []
    if not servers or not isinstance(servers[0], Mapping) or not servers[0].get("url"):
        return None
    url = str(servers[0]["url"])
    for name, variable in (servers[0].get("variables") or {}).items():
        url = url.replace("{" + name + "}", str((variable or {}).get("default", "")))
    if "://" not in url:
        if "://" not in location:
            return None  # a relative server of a file: the operator gives base_url
        url = urljoin(location, url)
    return url.rstrip("/")
