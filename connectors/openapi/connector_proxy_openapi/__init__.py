"""Connectors built from OpenAPI documents: every operation a command.

Registered as the ``openapi`` factory (``connector_proxy.factories``); an operator names a document::

    [connectors.petstore]
    openapi = "specs/petstore.yaml"      # a file (relative to the configuration) or an http(s) URL
    [connectors.petstore.config]
    base_url = "https://petstore.example"  # default: the document's first server

See docs/openapi.md for the keys, the command ids and the error codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from connector_proxy.sdk import Connector, DestinationPolicy, origin_of
from connector_proxy.sdk.factories import CannotBuild, Recipe
from connector_proxy.sdk.http.settings import OUTBOUND_PROPERTIES, HttpResources
from connector_proxy.sdk.http.settings import setup as http_setup
from connector_proxy_openapi import auth, selection
from connector_proxy_openapi.commands import build
from connector_proxy_openapi.document import Document, read
from connector_proxy_openapi.operations import default_base_url, operations
from connector_proxy_openapi.refs import Refs

VERSION = "0.1.0"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "[::1]", "localhost")


@dataclass(frozen=True)
class ApiResources(HttpResources):
    """The http path's resources, and the base URL every operation's path is added to."""

    base_url: str = ""


def factory(recipe: Recipe) -> Connector:
    """The connector ``recipe.source`` describes; CannotBuild says why there is none."""
    document = read(recipe.source, recipe.folder)
    return connector_of(recipe.name, document, recipe.config)


def connector_of(name: str, document: Document, table: Mapping[str, Any]) -> Connector:
    """Every selected operation of ``document`` as a command of connector ``name``."""
    refs = Refs(document)
    content = document.content
    schemes = auth.schemes(content, document.version)
    default_url = default_base_url(content, document.version, document.location)
    global_security = tuple(content.get("security") or ())
    choose = selection.chooser(table)
    connector = Connector(
        name,
        description=_title(content, document.version),
        version=str((content.get("info") or {}).get("version") or VERSION),
        config_schema=config_schema(default_url, schemes),
        setup=lambda config: setup(config, default_url),
    )
    for scheme in schemes.values():
        if scheme.kind == "authorization_code" and scheme.oauth is not None:
            connector.auth(scheme.oauth)  # the sign-in <name>/<scheme>, as any connector offers one
    taken: set[str] = set()
    try:
        for operation in operations(refs, content):
            if not choose(operation):
                continue
            command_name = _unique(operation.name, taken)
            security = operation.security if operation.security is not None else global_security
            connector.add(build(refs, operation, command_name, security, schemes))
    except RecursionError:
        raise CannotBuild("the document nests too deeply") from None
    return connector


def _unique(name: str, taken: set[str]) -> str:
    unique, number = name, 2
    while unique in taken:
        unique, number = f"{name}_{number}", number + 1
    taken.add(unique)
    return unique


def _title(content: Mapping[str, Any], version: str) -> str:
    info = content.get("info") or {}
    kind = "Swagger" if version == "2.0" else "OpenAPI"
    return f"{info.get('title') or 'An API'}: built from its {kind} {version} document."


def config_schema(default_url: str | None, schemes: Mapping[str, auth.Scheme]) -> dict[str, Any]:
    base_url: dict[str, Any] = {
        "type": "string",
        "pattern": "^[hH][tT][tT][pP][sS]?://[^/?#]+[^?#]*$",
        "x-expected": "an http:// or https:// URL without query",
        "description": "Where the operations' paths are added; the document's first server by default.",
    }
    if default_url:
        base_url["default"] = default_url
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [] if default_url else ["base_url"],
        "properties": {
            **OUTBOUND_PROPERTIES,
            "user_agent": {"type": "string", "default": f"connector-proxy-openapi/{VERSION}"},
            "base_url": base_url,
            "auth": auth.config_schema(schemes),
            "include": selection.SCHEMA,
            "exclude": selection.SCHEMA,
        },
    }


def setup(config: Mapping[str, Any], default_url: str | None) -> ApiResources:
    """The http path's resources; calls may reach only the base URL's origin unless ``destinations``
    widens it (loopback too when the operator's own base_url names it)."""
    base_url = str(config.get("base_url") or default_url).rstrip("/")
    policy = None
    if "destinations" not in config:
        loopback = "base_url" in config and urlsplit(base_url).hostname in LOOPBACK_HOSTS
        policy = DestinationPolicy(allow=(origin_of(base_url),), allow_loopback=loopback)
    made = http_setup(config, policy)
    return ApiResources(**{f.name: getattr(made, f.name) for f in fields(made)}, base_url=base_url)


__all__ = ["ApiResources", "config_schema", "connector_of", "factory"]
