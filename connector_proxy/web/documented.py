"""What a route answers, declared beside it; ``/v1/openapi.json`` is generated from these.

A route says its success statuses and body schema, its query parameters and
the error codes it may answer; the document adds what every route may meet
(an API key refused, a body too large, the daemon's own failure), so nothing
is written twice. A test fails when a route has no declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connector_proxy.sdk.errors import ErrorCode

View = TypeVar("View", bound=Callable[..., Any])
ATTRIBUTE = "connector_proxy_route"


@dataclass(frozen=True)
class Query:
    """A query parameter: its name, JSON schema and what it does."""

    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class RouteDoc:
    """A route's answers: success status -> body schema (None: no JSON body), errors, query."""

    answers: Mapping[int, Mapping[str, Any] | None]
    errors: tuple[ErrorCode, ...] = ()
    query: tuple[Query, ...] = ()
    media_type: str = "application/json"
    tag: str = "proxy"
    # per-command request schemas: set on the call route, expanded from the registry
    per_command: bool = False
    # the request body's media types and schemas (POST); None: a JSON object
    request_content: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def documented(
    answers: Mapping[int, Mapping[str, Any] | None],
    errors: tuple[ErrorCode, ...] = (),
    query: tuple[Query, ...] = (),
    **options: Any,
) -> Callable[[View], View]:
    def declare(view: View) -> View:
        setattr(view, ATTRIBUTE, RouteDoc(answers, errors, query, **options))
        return view

    return declare


def route_doc(view: Callable[..., Any]) -> RouteDoc | None:
    found: RouteDoc | None = getattr(view, ATTRIBUTE, None)
    return found
