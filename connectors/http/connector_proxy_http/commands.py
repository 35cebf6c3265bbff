"""The six request commands and their parameter schema, written once.

The ``…V2`` ids are the commands: a SpiffWorkflow backend runs the plain ids (``GetRequest``…) itself
and never sends them to a proxy, so models that want our destination policy, limits and error codes
call the ``V2`` ones. The plain ids are aliases, for other hosts and for models moved from a host
that sent them on.
"""

from __future__ import annotations

from typing import Any

from connector_proxy.sdk import CommandGroup, Context, Result
from connector_proxy.sdk.http.sending import HEADER_NAME, HEADER_VALUE, Outgoing, send

COMMON: dict[str, Any] = {
    "url": {
        "type": "string",
        "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#]+",
        "x-expected": "an http:// or https:// URL",
        "examples": ["https://example.org/"],
        "description": "The http:// or https:// URL to call.",
    },
    "headers": {
        "type": "object",
        "propertyNames": {"pattern": HEADER_NAME, "x-expected": "a header name (a token)"},
        "additionalProperties": {
            "type": "string",
            "pattern": HEADER_VALUE,
            "x-expected": "Latin-1 text on one line",
        },
        "description": "Request headers: names are tokens, values Latin-1 text (values are never logged).",
    },
    "params": {"type": "object", "description": "Query-string parameters, added to the URL."},
    "basic_auth_username": {"type": "string", "description": "User name for HTTP basic authentication."},
    "basic_auth_password": {"type": "string", "description": "Password for HTTP basic authentication."},
    "timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 30,
        "description": "Seconds to wait for the upstream (capped by max_timeout and the call's deadline).",
    },
    "attempts": {
        "type": "integer",
        "minimum": 1,
        "maximum": 10,
        "default": 1,
        "description": "Tries in all; retried on connection errors, timeouts, 429 and 5xx with backoff.",
    },
    "retry_non_idempotent": {
        "type": "boolean",
        "default": False,
        "description": "Also retry POST and PATCH (only when the upstream deduplicates).",
    },
    "include_response_headers": {
        "type": "boolean",
        "default": False,
        "description": 'Answer {"body": ..., "headers": {...}} instead of the body alone.',
    },
}
WITH_BODY: dict[str, Any] = {
    "data": {"description": "The request body: any JSON value (json), an object (form) or text (raw)."},
    "body_format": {
        "enum": ["json", "form", "raw", "none"],
        "default": "json",
        "description": "How data is sent: json, form (url-encoded), raw (text as is) or none.",
    },
}
# form needs an object and raw needs text: said in the schema so validation names the field
BODY_RULES = [
    {
        "if": {"properties": {"body_format": {"const": "form"}}, "required": ["body_format"]},
        "then": {"properties": {"data": {"type": "object"}}},
    },
    {
        "if": {"properties": {"body_format": {"const": "raw"}}, "required": ["body_format"]},
        "then": {"properties": {"data": {"type": "string"}}},
    },
]


def parameters_schema(with_body: bool, headers_by_default: bool = False) -> dict[str, Any]:
    properties = {**COMMON, **(WITH_BODY if with_body else {})}
    if headers_by_default:
        properties["include_response_headers"] = {**COMMON["include_response_headers"], "default": True}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": ["url"],
        "additionalProperties": False,
    }
    if with_body:
        schema["allOf"] = BODY_RULES
    return schema


# what the upstream answered is the upstream's to shape: any JSON (text when it was not JSON)
UPSTREAM_BODY: dict[str, Any] = {"description": "The upstream's body: parsed JSON, else text."}
WITH_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "include_response_headers: the upstream's body and its response headers.",
    "required": ["body", "headers"],
    "properties": {
        "body": UPSTREAM_BODY,
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _register(method: str, with_body: bool) -> None:
    name = f"{method.capitalize()}Request"
    headers_by_default = method == "HEAD"  # a HEAD answer is nothing but headers

    def command(ctx: Context, **parameters: Any) -> Result:
        return send(ctx, _outgoing(method, parameters))

    commands.command(
        f"{name}V2",
        aliases=[name],
        parameters=parameters_schema(with_body, headers_by_default),
        description=f"Send an HTTP {method} request and answer with the upstream's decoded body.",
        output={"anyOf": [WITH_HEADERS, UPSTREAM_BODY]} if headers_by_default else UPSTREAM_BODY,
    )(command)


# one command per method, each with the same parameters (a body where the method takes one)
commands = CommandGroup()
for _method, _with_body in (
    ("GET", False),
    ("POST", True),
    ("PUT", True),
    ("PATCH", True),
    ("DELETE", True),
    ("HEAD", False),
):
    _register(_method, _with_body)


def _outgoing(method: str, parameters: dict[str, Any]) -> Outgoing:
    """Parameters arrive validated, with the schema's defaults filled in."""
    username = parameters.get("basic_auth_username")
    password = parameters.get("basic_auth_password")
    return Outgoing(
        method=method,
        url=parameters["url"],
        headers=parameters.get("headers") or {},
        params=parameters.get("params"),
        data=parameters.get("data"),
        body_format=parameters.get("body_format", "none"),
        auth=(username, password or "") if username is not None else None,
        timeout=float(parameters["timeout"]),
        attempts=parameters["attempts"],
        retry_non_idempotent=parameters["retry_non_idempotent"],
        include_response_headers=parameters["include_response_headers"],
    )
