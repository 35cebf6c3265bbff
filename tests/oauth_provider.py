"""A real OAuth 2.0 provider on 127.0.0.1 for the tests, made with authlib's authorization server.

It does what a provider does: authorization codes bound to the redirect URI
and a PKCE challenge (required), client authentication at the token
endpoint, client credentials, refresh tokens that rotate, and a userinfo
endpoint that checks the bearer token. The user consents at once, or refuses
when ``refuse`` is set.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # http on 127.0.0.1 only


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "client_credentials", "refresh_token")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() - self.issued > 60


@dataclass
class Token:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return self.revoked

    def is_expired(self) -> bool:
        return False


class OAuthProvider:
    """The provider, serving in a thread; ``url`` is its base URL."""

    def __init__(self, redirect_uris: list[str], client_id: str = "proxy-client") -> None:
        self.client = Client(client_id, secrets.token_urlsafe(16), redirect_uris)
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.refuse = False
        self.userinfo_refuses = False  # every token, even a fresh one, is refused (401) at /userinfo
        self.token_requests: list[dict[str, str]] = []
        self.app = self._app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()

    def _app(self) -> Flask:
        app = Flask("oauth-provider")
        app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
            "authorization_code": 3600,
            "client_credentials": 3600,
            "refresh_token": 3600,
        }
        provider = self

        def query_client(client_id: str) -> Client | None:
            return provider.client if client_id == provider.client.client_id else None

        def save_token(token: dict[str, Any], oauth_request: Any) -> None:
            provider.tokens[token["access_token"]] = Token(
                token["access_token"],
                token.get("refresh_token"),
                oauth_request.client.client_id,
                token.get("scope", ""),
            )

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        server.register_grant(_code_grant(provider), [CodeChallenge(required=True)])
        server.register_grant(grants.ClientCredentialsGrant)
        server.register_grant(_refresh_grant(provider))

        @app.get("/authorize")
        def authorize() -> Any:
            return server.create_authorization_response(grant_user=None if provider.refuse else "alice")

        @app.post("/token")
        def token() -> Any:
            provider.token_requests.append(dict(request.form))
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo() -> Any:
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            known = provider.tokens.get(bearer)
            if known is None or known.revoked or provider.userinfo_refuses:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"sub": "alice", "scope": known.scope})

        return app


def _code_grant(provider: OAuthProvider) -> type[grants.AuthorizationCodeGrant]:
    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

        def save_authorization_code(self, code: str, oauth_request: Any) -> None:
            provider.codes[code] = Code(
                code,
                oauth_request.client.client_id,
                oauth_request.payload.redirect_uri,
                oauth_request.payload.scope or "",
                oauth_request.payload.data.get("code_challenge"),
                oauth_request.payload.data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            item = provider.codes.get(code)
            return item if item is not None and item.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return "alice"

    return CodeGrant


def _refresh_grant(provider: OAuthProvider) -> type[grants.RefreshTokenGrant]:
    class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
        INCLUDE_NEW_REFRESH_TOKEN = True
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            return next(
                (t for t in provider.tokens.values() if t.refresh_token == refresh_token and not t.revoked),
                None,
            )

        def authenticate_user(self, credential: Token) -> str:
            return "alice"

        def revoke_old_credential(self, credential: Token) -> None:
            credential.revoked = True

    return RefreshGrant
