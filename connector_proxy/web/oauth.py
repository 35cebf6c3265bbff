"""OAuth sign-in through the proxy, as the host's UI drives it.

``GET /v1/auths`` lists what connectors offer; the UI sends the browser to
``/v1/auth/<connector>/<auth>?redirect_url=...``; the provider sends it back
to ``.../callback``; the proxy exchanges the code and sends the browser to
``redirect_url`` with the token set as JSON in the ``response`` parameter.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from connector_proxy.calls.registry import BoundAuth
from connector_proxy.host.error_codes import (
    AUTH_NOT_FOUND,
    OAUTH_DENIED,
    OAUTH_STATE_INVALID,
    REDIRECT_NOT_ALLOWED,
    SIGN_IN_NOT_OFFERED,
)
from connector_proxy.oauth.signin import COOKIE_PATH, cookie_name, well_formed
from connector_proxy.sdk.auth import CLIENT_CREDENTIALS, OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path
from connector_proxy.web import proxied
from connector_proxy.web.documented import Query, documented
from connector_proxy.web.openapi import LIST_OF_OBJECTS
from connector_proxy.web.responses import error_response, raw_json
from connector_proxy.web.state import proxy_state

oauth = Blueprint("oauth", __name__, url_prefix="/v1")
log = logging.getLogger(__name__)


@oauth.get("/auths")
@documented({200: LIST_OF_OBJECTS}, tag="sign-in")
def list_auths() -> Response:
    """The host's list shape: ``{"id": "<connector>/<auth>", "parameters": [...]}``: the sign-ins a
    user can start (client-credentials auths are the daemon's own, not listed)."""
    state = proxy_state()
    local_only = proxied.came_through_a_proxy()  # another proxy is told of ours alone
    return raw_json(state.registry.auths_json if local_only else state.proxies.view.auths_json)


@oauth.get("/auth/<connector>/<auth>")
@documented(
    {302: None},
    errors=(
        AUTH_NOT_FOUND,
        SIGN_IN_NOT_OFFERED,
        REDIRECT_NOT_ALLOWED,
        OAUTH_NOT_CONFIGURED,
        OAUTH_PROVIDER_ERROR,
    ),
    query=(Query("redirect_url", {"type": "string"}, "where the browser goes back with the tokens"),),
    tag="sign-in",
)
def start_sign_in(connector: str, auth: str) -> Response:
    """Start a sign-in: 302 to the provider. A client-credentials auth offers none (its token is the
    daemon's own and never leaves it). A sign-in another proxy offers starts there: 307 to it."""
    if f"{connector}/{auth}" not in proxy_state().registry.auths:
        elsewhere = proxied.sign_in(proxy_state(), connector, auth)
        if elsewhere is not None:
            return _no_store(elsewhere)
    try:
        bound = _auth(connector, auth)
        if bound.auth.flow == CLIENT_CREDENTIALS:  # the daemon's machine identity: it never leaves
            raise CommandError(SIGN_IN_NOT_OFFERED, f"{bound.id} is a client-credentials grant: no sign-in")
        pending = proxy_state().signins.start(bound.id, request.args.get("redirect_url"))
        location = bound.auth.authorize_url(
            bound.config, _callback_uri(bound), pending.state, pending.verifier
        )
    except CommandError as error:
        return _no_store(error_response(error))
    response = _no_store(redirect(location))
    response.set_cookie(
        pending.cookie_name,
        proxy_state().signins.cookie_value(pending),
        max_age=int(proxy_state().settings.oauth.state_ttl),
        path=COOKIE_PATH,
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",  # sent on the provider's top-level redirect back, not on cross-site requests
    )
    log.info("sign-in %s started", bound.id)
    return response


@oauth.get("/auth/<connector>/<auth>/callback")
@documented(
    {302: None},
    errors=(AUTH_NOT_FOUND, OAUTH_STATE_INVALID, OAUTH_DENIED, OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR),
    query=(
        Query("state", {"type": "string"}, "the sign-in's state, as the provider sends it back"),
        Query("code", {"type": "string"}, "the authorization code"),
        Query("error", {"type": "string"}, "the provider's refusal"),
    ),
    tag="sign-in",
)
def finish_sign_in(connector: str, auth: str) -> Response:
    """Where the provider sends the browser back: the code is exchanged, then 302 to the host."""
    state = request.args.get("state")
    try:
        bound = _auth(connector, auth)
        pending = proxy_state().signins.finish(request.cookies, bound.id, state)
        if "error" in request.args:
            said = request.args["error"][:100]
            raise CommandError(OAUTH_DENIED, f"The provider refused the sign-in: {said}")
        code = request.args.get("code")
        if not code:
            raise CommandError(OAUTH_DENIED, "The provider sent the browser back without a code")
        tokens = bound.auth.exchange_code(bound.config, code, _callback_uri(bound), pending.verifier)
        response = _back_to(pending.redirect_url, tokens, bound.id)
    except CommandError as error:
        response = _no_store(error_response(error))
    if well_formed(state):  # a forged state names no cookie of ours, and may not name one at all
        response.delete_cookie(cookie_name(state), path=COOKIE_PATH)  # one use only
    return response


def _auth(connector: str, auth: str) -> BoundAuth:
    auth_id = f"{connector}/{auth}"
    bound = proxy_state().registry.auths.get(auth_id)
    if bound is None:
        raise CommandError(AUTH_NOT_FOUND, f"No auth {auth_id!r} is available")
    return bound


def _callback_uri(bound: BoundAuth) -> str:
    base = proxy_state().settings.oauth.public_url or request.host_url
    return base.rstrip("/") + url_path("v1", "auth", *bound.id.split("/"), "callback")


def _back_to(redirect_url: str, tokens: dict[str, Any], auth_id: str) -> Response:
    """The browser goes back to the host with the token set, JSON in ``response``, as the host expects."""
    separator = "&" if "?" in redirect_url else "?"
    log.info("sign-in %s finished", auth_id)  # never the tokens, the code or the URL carrying them
    return _no_store(redirect(f"{redirect_url}{separator}{urlencode({'response': json.dumps(tokens)})}"))


def _no_store(response: BaseResponse) -> Response:
    response.headers["Cache-Control"] = "no-store"  # tokens and one-time codes must not be cached
    return response  # type: ignore[return-value]  # flask.redirect's werkzeug Response serves as well
