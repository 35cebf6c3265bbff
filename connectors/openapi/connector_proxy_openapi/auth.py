"""Credentials by the document's ``securitySchemes`` (``securityDefinitions`` in Swagger 2.0).

``[connectors.<name>.config] auth`` holds one entry per scheme the operator fills, by the scheme's name
in the document, every secret a reference (``env:``, ``file:``...). ``bearer`` and ``basic`` are always
accepted besides (many documents declare no scheme, GitHub's among them) and sent with every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connector_proxy.sdk import Context, ErrorCode, OAuth2
from connector_proxy.sdk.auth import CLIENT_CREDENTIALS, OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR

SECRET: dict[str, Any] = {"type": "string", "minLength": 1, "secret": True}
BASIC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": SECRET},
}
CLIENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["client_id", "client_secret"],
    "properties": {"client_id": {"type": "string", "minLength": 1}, "client_secret": SECRET},
}
GENERIC = {
    "bearer": {**SECRET, "description": "A token sent as Authorization: Bearer with every call."},
    "basic": {**BASIC, "description": "A user name and password sent with every call (HTTP basic)."},
}


@dataclass(frozen=True)
class Scheme:
    """One security scheme the connector can fill: how its credential travels."""

    name: str
    kind: str  # api_key, basic, bearer, client_credentials
    place: str = "header"  # an API key's: header, query or cookie
    key_name: str = ""  # an API key's header, query or cookie name
    oauth: OAuth2 | None = None


def schemes(content: Mapping[str, Any], version: str) -> dict[str, Scheme]:
    """The schemes of the document the connector supports, by name (others are left unoffered)."""
    declared = (
        content.get("securityDefinitions")
        if version == "2.0"
        else (content.get("components") or {}).get("securitySchemes")
    ) or {}
    found = {}
    for name, scheme in declared.items():
        made = _scheme(str(name), scheme) if isinstance(scheme, Mapping) else None
        if made is not None:
            found[made.name] = made
    return found


def _scheme(name: str, scheme: Mapping[str, Any]) -> Scheme | None:
    kind = scheme.get("type")
    if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
        return Scheme(name, "api_key", str(scheme["in"]), str(scheme.get("name", "")))
    if kind == "basic" or (kind == "http" and str(scheme.get("scheme", "")).lower() == "basic"):
        return Scheme(name, "basic")
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return Scheme(name, "bearer")
    token_url = _client_credentials_url(scheme)
    if kind == "oauth2" and token_url:
        # HTTP basic at the token endpoint: what RFC 6749 (2.3.1) has every server support
        oauth = OAuth2(name, token_url, flow=CLIENT_CREDENTIALS, token_auth="client_secret_basic")  # noqa: S106
        return Scheme(name, "client_credentials", oauth=oauth)
    return None  # authorization code, implicit, openIdConnect, mutualTLS: not offered (yet)


def _client_credentials_url(scheme: Mapping[str, Any]) -> str | None:
    if scheme.get("flow") == "application":  # Swagger 2.0
        return str(scheme.get("tokenUrl") or "") or None
    flow = (scheme.get("flows") or {}).get("clientCredentials")
    return str(flow.get("tokenUrl") or "") or None if isinstance(flow, Mapping) else None


def errors_of(
    found: Mapping[str, Scheme], requirements: tuple[Mapping[str, Any], ...]
) -> tuple[ErrorCode, ...]:
    """The token endpoint's codes, for an operation that may ask for a client credentials token."""
    named = {name for requirement in requirements for name in requirement}
    if any(found[name].kind == "client_credentials" for name in named if name in found):
        return (OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR)
    return ()


def config_schema(found: Mapping[str, Scheme]) -> dict[str, Any]:
    """The ``auth`` table's schema: one entry per supported scheme, plus bearer and basic."""
    properties: dict[str, Any] = dict(GENERIC)
    for scheme in found.values():
        shape = {"api_key": SECRET, "basic": BASIC, "bearer": SECRET, "client_credentials": CLIENT}[
            scheme.kind
        ]
        where = f" in the {scheme.place} {scheme.key_name}" if scheme.kind == "api_key" else ""
        properties[scheme.name] = {**shape, "description": f"The document's {scheme.kind} scheme{where}."}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": "Credentials by security scheme name (and bearer, basic), secrets by reference.",
    }


def apply(
    ctx: Context,
    found: Mapping[str, Scheme],
    requirements: tuple[Mapping[str, Any], ...],
    headers: dict[str, str],
    query: dict[str, Any],
    cookies: dict[str, str],
) -> tuple[str, str] | None:
    """Add the configured credentials the operation asks for (its first alternative the operator
    filled whole), and bearer or basic when given; answers the basic pair, if any."""
    given: Mapping[str, Any] = ctx.config.get("auth") or {}
    basic = None
    chosen = next(
        (names for names in requirements if names and all(name in given and name in found for name in names)),
        {},
    )
    for name in chosen:
        scheme, value = found[name], given[name]
        if scheme.kind == "api_key":
            {"header": headers, "query": query, "cookie": cookies}[scheme.place][scheme.key_name] = value
        elif scheme.kind == "bearer":
            headers["Authorization"] = f"Bearer {value}"
        elif scheme.kind == "basic":
            basic = (value["username"], value["password"])
        elif scheme.oauth is not None:
            headers["Authorization"] = f"Bearer {_client_token(ctx, scheme.oauth, value)}"
    if "bearer" in given and "bearer" not in found:
        headers.setdefault("Authorization", f"Bearer {given['bearer']}")
    if "basic" in given and "basic" not in found and basic is None:
        basic = (given["basic"]["username"], given["basic"]["password"])
    return basic


def _client_token(ctx: Context, oauth: OAuth2, client: Mapping[str, Any]) -> str:
    """The daemon's client-credentials token (kept per worker until it nearly expires)."""
    return oauth.access_token(replace(ctx, config=client))
