"""Credentials by the document's ``securitySchemes`` (``securityDefinitions`` in Swagger 2.0).

``[connectors.<name>.config] auth`` holds one entry per scheme the operator fills, by the scheme's name
in the document, every secret a reference (``env:``, ``file:``...). ``bearer`` and ``basic`` are always
accepted besides (many documents declare no scheme, GitHub's among them) and sent with every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector_proxy.sdk import Context, ErrorCode, OAuth2
from connector_proxy.sdk.auth import (
    CLIENT_CREDENTIALS,
    OAUTH_NOT_CONFIGURED,
    OAUTH_PROVIDER_ERROR,
    TOKEN_SET_INVALID,
)

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
SHAPES = {  # each kind of scheme's entry in the auth table
    "api_key": SECRET,
    "basic": BASIC,
    "bearer": SECRET,
    "client_credentials": CLIENT,
    "authorization_code": CLIENT,
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
    client_id_key, client_secret_key = f"auth.{name}.client_id", f"auth.{name}.client_secret"
    if kind == "oauth2" and token_url:
        # HTTP basic at the token endpoint: what RFC 6749 (2.3.1) has every server support
        oauth = OAuth2(
            name,
            token_url,
            flow=CLIENT_CREDENTIALS,
            token_auth="client_secret_basic",  # noqa: S106 - a method's name
            client_id_key=client_id_key,
            client_secret_key=client_secret_key,
        )
        return Scheme(name, "client_credentials", oauth=oauth)
    code = _authorization_code_flow(scheme)
    if kind == "oauth2" and code is not None:
        oauth = OAuth2(
            name,
            str(code["tokenUrl"]),
            authorization_url=str(code["authorizationUrl"]),
            scopes=tuple(str(scope) for scope in code.get("scopes") or ()),
            token_auth="client_secret_basic",  # noqa: S106 - a method's name
            description=f"Sign in for the document's {name} scheme.",
            client_id_key=client_id_key,
            client_secret_key=client_secret_key,
        )
        return Scheme(name, "authorization_code", oauth=oauth)
    return None  # implicit, password, openIdConnect, mutualTLS: not offered


def _authorization_code_flow(scheme: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The authorization code flow's URLs and scopes, in OpenAPI 3's shape (Swagger's accessCode too)."""
    if scheme.get("flow") == "accessCode":  # Swagger 2.0
        flow: Any = scheme
    else:
        flow = (scheme.get("flows") or {}).get("authorizationCode")
    if not isinstance(flow, Mapping) or not flow.get("tokenUrl") or not flow.get("authorizationUrl"):
        return None
    return flow


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
    kinds = {found[name].kind for name in named if name in found}
    codes: tuple[ErrorCode, ...] = ()
    if kinds & {"client_credentials", "authorization_code"}:
        codes += (OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR)
    if "authorization_code" in kinds:
        codes += (TOKEN_SET_INVALID,)
    return codes


def config_schema(found: Mapping[str, Scheme]) -> dict[str, Any]:
    """The ``auth`` table's schema: one entry per supported scheme, plus bearer and basic."""
    properties: dict[str, Any] = dict(GENERIC)
    for scheme in found.values():
        shape = SHAPES[scheme.kind]
        where = f" in the {scheme.place} {scheme.key_name}" if scheme.kind == "api_key" else ""
        properties[scheme.name] = {**shape, "description": f"The document's {scheme.kind} scheme{where}."}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": "Credentials by security scheme name (and bearer, basic), secrets by reference.",
    }


# an operation signed in by authorization code takes the token set (the host's secret's value) and the
# name of that secret, where a refreshed set is stored: parameter names, not secrets
TOKEN_SET = "token_set"  # noqa: S105
TOKEN_SECRET = "token_secret"  # noqa: S105


def signed_in(found: Mapping[str, Scheme], requirements: tuple[Mapping[str, Any], ...]) -> str | None:
    """The first authorization code scheme an operation may use: its calls take a token set."""
    named = [name for requirement in requirements for name in requirement if name in found]
    return next((name for name in named if found[name].kind == "authorization_code"), None)


def apply(
    ctx: Context,
    found: Mapping[str, Scheme],
    requirements: tuple[Mapping[str, Any], ...],
    outgoing: dict[str, dict[str, Any]],
    signed: Mapping[str, Any],
) -> tuple[str, str] | None:
    """Add to ``outgoing`` (its header, query and cookie tables) the credentials the operation asks
    for: its first alternative the operator filled whole (an authorization code scheme by the call's
    token set in ``signed``), and bearer or basic when given; answers the basic pair, if any."""
    given: Mapping[str, Any] = ctx.config.get("auth") or {}

    def filled(name: str) -> bool:
        kind = found[name].kind if name in found else None
        return kind is not None and name in given and (kind != "authorization_code" or TOKEN_SET in signed)

    chosen = next((names for names in requirements if names and all(filled(name) for name in names)), {})
    basic = None
    for name in chosen:
        scheme, value = found[name], given[name]
        if scheme.kind == "api_key":
            outgoing[scheme.place][scheme.key_name] = value
        elif scheme.kind == "bearer":
            outgoing["header"]["Authorization"] = f"Bearer {value}"
        elif scheme.kind == "basic":
            basic = (value["username"], value["password"])
        elif scheme.oauth is not None and scheme.kind == "client_credentials":
            outgoing["header"]["Authorization"] = f"Bearer {scheme.oauth.access_token(ctx)}"
        elif scheme.oauth is not None:  # refreshed first when expired; the host is told to store the new set
            tokens = scheme.oauth.fresh(ctx, signed[TOKEN_SET], str(signed.get(TOKEN_SECRET) or name))
            outgoing["header"]["Authorization"] = f"Bearer {tokens['access_token']}"
    if "bearer" in given and "bearer" not in found:
        outgoing["header"].setdefault("Authorization", f"Bearer {given['bearer']}")
    if "basic" in given and "basic" not in found and basic is None:
        basic = (given["basic"]["username"], given["basic"]["password"])
    return basic
