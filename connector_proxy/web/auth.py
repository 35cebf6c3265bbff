"""API keys on every /v1 route, compared in constant time."""

from __future__ import annotations

import hmac

from flask import Response, request

from connector_proxy.config import AuthSettings
from connector_proxy.host.error_codes import UNAUTHORIZED
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.responses import error_response
from connector_proxy.web.state import proxy_state

HEADER = "Spiff-Connector-Proxy-Api-Key"
ALWAYS_OPEN = frozenset({"/liveness", "/v1/liveness"})
# a partner's webhook cannot hold our key: its subscription's verifier checks every request instead;
# a command calling back through its relay URL cannot either: the URL's key is checked instead; a
# SpiffWorkflow backend sends none for typeahead: the route serves opened categories without it
VERIFIED_ELSEWHERE = ("/v1/inbound/", "/v1/relay/", "/v1/typeahead/")


def require_api_key() -> Response | None:
    """A before-request hook: None lets the request through."""
    auth = proxy_state().settings.auth
    if not auth.api_keys or not guarded(request.path, auth):
        return None
    offered = request.headers.get(HEADER)
    if offered is None:
        return error_response(CommandError(UNAUTHORIZED, f"The {HEADER} header is missing"))
    if not key_matches(offered, auth.api_keys):
        return error_response(CommandError(UNAUTHORIZED, f"The {HEADER} header matches no configured key"))
    return None


def carries_a_key(auth: AuthSettings) -> bool:
    """Whether the request holds a configured key (none does when no key is configured): for routes
    that check keys themselves, serving more to a caller that has one."""
    offered = request.headers.get(HEADER)
    return bool(auth.api_keys) and offered is not None and key_matches(offered, auth.api_keys)


def key_matches(offered: str, keys: tuple[str, ...]) -> bool:
    """Compare with every key, without stopping early, so timing reveals nothing."""
    offered_bytes = offered.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered_bytes, key.encode())
    return matched


def guarded(path: str, auth: AuthSettings) -> bool:
    """Whether ``path`` needs a key when keys are set (the OpenAPI document asks too)."""
    if path in ALWAYS_OPEN or not path.startswith("/v1/") or path.startswith(VERIFIED_ELSEWHERE):
        return False
    return not any(path.startswith(prefix) for prefix in auth.open_paths)
