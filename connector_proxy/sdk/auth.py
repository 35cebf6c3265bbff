"""OAuth 2.0 clients a connector declares; the daemon runs the browser's sign-in.

    xero = connector.auth(OAuth2(
        "OAuth",
        authorization_url="https://login.xero.com/identity/connect/authorize",
        token_url="https://identity.xero.com/connect/token",
        scopes=("offline_access", "accounting.transactions"),
    ))

URLs may name configuration keys in braces (``https://{domain}/oauth2/token``)
for providers with a URL per tenant. The client id and secret come from the
connector's configuration
(``client_id`` and ``client_secret`` by default; mark them secret in its
schema so they may be ``env:``/``file:`` references). A command that is given
a token set calls ``xero.fresh(ctx, token_set, secret="xero")``: an expired
set is refreshed, and the daemon answers in the host's
``{"api_response", "refreshed_token_set", "auth"}`` shape so the host stores
the new tokens in its secret ``xero``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from connector_proxy.sdk.context import Context, RefreshedTokens
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.masking import remember

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
FLOWS = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS)
TOKEN_TIMEOUT = 10.0  # seconds one call to a token endpoint may take
EXPIRY_MARGIN = 30.0  # a token this close to its expiry is refreshed: it would expire mid-call

OAUTH_NOT_CONFIGURED = ErrorCode(
    "OAuthNotConfigured",
    "The connector's configuration lacks the client id, or a key the auth's URLs name.",
    status=503,
)
OAUTH_PROVIDER_ERROR = ErrorCode(
    "OAuthProviderError",
    "The provider's token endpoint refused or did not answer; the message names its status and error.",
    status=502,
)
TOKEN_SET_INVALID = ErrorCode(
    "TokenSetInvalid",
    "The token set given to a command is not a JSON object with an access_token, or it expired"
    " and has no refresh_token: sign in again.",
    status=401,
)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# what describes an OAuth2 whole, as data (an isolated worker sends them; OAuth2(**fields) is it again)
AUTH_FIELDS = (
    "name",
    "token_url",
    "authorization_url",
    "flow",
    "scopes",
    "pkce",
    "token_auth",
    "authorize_params",
    "description",
    "client_id_key",
    "client_secret_key",
    "client_id",
    "client_secret",
)


@functools.cache  # built on first use: urllib.request imports ssl, which gevent must patch first
def _opener() -> Any:
    """The standard library only (isolated workers have nothing else); no proxies from the environment,
    no redirects (a token endpoint that redirects is answered as it stands)."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: Any) -> None:
            return None

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects())


@dataclass(frozen=True)
class OAuth2:
    """One OAuth 2.0 client: the authorization code flow (PKCE, S256) or client credentials.

    ``client_id`` and ``client_secret`` are fixed values for packages that
    carry them; connectors should leave them unset and read the configuration
    keys named by ``client_id_key`` and ``client_secret_key`` (``auth.github.client_id``: a key
    inside the configuration's tables).
    """

    name: str
    token_url: str
    authorization_url: str | None = None
    flow: str = AUTHORIZATION_CODE
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    token_auth: str = "client_secret_post"  # noqa: S105 - a method name, not a secret; or "client_secret_basic" (HTTP Basic at the token endpoint)
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    client_id_key: str = "client_id"
    client_secret_key: str = "client_secret"  # noqa: S105 - the configuration key holding it
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.flow not in FLOWS:
            raise ValueError(f"{self.name}: flow must be one of {', '.join(FLOWS)}")
        if self.flow == AUTHORIZATION_CODE and not self.authorization_url:
            raise ValueError(f"{self.name}: the authorization code flow needs an authorization_url")
        if self.token_auth not in ("client_secret_post", "client_secret_basic"):
            raise ValueError(f"{self.name}: token_auth must be client_secret_post or client_secret_basic")

    def credentials(self, config: Mapping[str, Any]) -> tuple[str, str | None]:
        """The client id and secret, from the fixed values or the configuration."""
        client_id = self.client_id or _configured(config, self.client_id_key)
        if not isinstance(client_id, str) or not client_id:
            raise CommandError(
                OAUTH_NOT_CONFIGURED,
                f"{self.name}: the connector's configuration has no {self.client_id_key}",
            )
        secret = self.client_secret or _configured(config, self.client_secret_key)
        return client_id, secret if isinstance(secret, str) and secret else None

    def authorize_url(self, config: Mapping[str, Any], redirect_uri: str, state: str, verifier: str) -> str:
        """Where the browser is sent to consent."""
        client_id, _ = self.credentials(config)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            **({"scope": " ".join(self.scopes)} if self.scopes else {}),
            **self.authorize_params,
        }
        if self.pkce:
            query |= {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
        base = self.filled(str(self.authorization_url), config)
        return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"

    def filled(self, url: str, config: Mapping[str, Any]) -> str:
        """The URL with each ``{key}`` replaced by that configuration key's value."""

        def value(match: re.Match[str]) -> str:
            found = config.get(match.group(1))
            if not isinstance(found, str) or not found:
                raise CommandError(
                    OAUTH_NOT_CONFIGURED,
                    f"{self.name}: the connector's configuration has no {match.group(1)}",
                )
            return found.rstrip("/")

        return _PLACEHOLDER.sub(value, url)

    def exchange_code(
        self, config: Mapping[str, Any], code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        """The token set for the code the provider sent the browser back with."""
        form = {"grant_type": AUTHORIZATION_CODE, "code": code, "redirect_uri": redirect_uri}
        if self.pkce:
            form["code_verifier"] = verifier
        return self.request_tokens(config, form, TOKEN_TIMEOUT)

    @property
    def interactive(self) -> bool:
        """Whether a browser signs in to it (the authorization code flow); a client-credentials
        token is the daemon's own and never handed out."""
        return self.flow == AUTHORIZATION_CODE

    def client_token_set(self, config: Mapping[str, Any], timeout: float = TOKEN_TIMEOUT) -> dict[str, Any]:
        """A token set from the client credentials grant (no browser, no user)."""
        form = {"grant_type": CLIENT_CREDENTIALS}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        return self.request_tokens(config, form, timeout)

    def access_token(self, ctx: Context) -> str:
        """For client credentials: a token kept per worker process until it nearly expires."""
        key = (self.filled(self.token_url, ctx.config), self.credentials(ctx.config)[0], self.scopes)
        with _cache_lock:
            cached = _client_tokens.get(key)
        if cached is None or is_expired(cached):
            cached = self.client_token_set(ctx.config, min(TOKEN_TIMEOUT, ctx.seconds_left()))
            with _cache_lock:
                _client_tokens[key] = cached
        return str(cached["access_token"])

    def fresh(self, ctx: Context, token_set: Mapping[str, Any] | str, secret: str) -> dict[str, Any]:
        """The token set, refreshed first if it has expired (the host is told to store the new one)."""
        tokens = parse_token_set(token_set)
        return self.refresh(ctx, tokens, secret) if is_expired(tokens) else tokens

    def refresh(self, ctx: Context, token_set: Mapping[str, Any] | str, secret: str) -> dict[str, Any]:
        """A new token set from the refresh token (after a 401, say); recorded for the host's secret."""
        tokens = parse_token_set(token_set)
        refresh_token = tokens.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise CommandError(
                TOKEN_SET_INVALID, f"{self.name}: the token set expired and has no refresh_token"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        renewed = self.request_tokens(ctx.config, form, min(TOKEN_TIMEOUT, ctx.seconds_left()))
        # a provider that does not rotate refresh tokens keeps the old one valid
        renewed.setdefault("refresh_token", refresh_token)
        ctx.refreshed.append(RefreshedTokens(secret, renewed, token_fingerprint(tokens)))
        return renewed

    def request_tokens(
        self, config: Mapping[str, Any], form: dict[str, str], timeout: float
    ) -> dict[str, Any]:
        """POST a grant to the token endpoint; the answer with ``expires_at`` added."""
        client_id, secret = self.credentials(config)
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if self.token_auth == "client_secret_basic" and secret:  # noqa: S105 - a method name
            pair = f"{_form_quote(client_id)}:{_form_quote(secret)}".encode()  # RFC 6749 2.3.1
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        else:
            form = {**form, "client_id": client_id, **({"client_secret": secret} if secret else {})}
        url = self.filled(self.token_url, config)
        if not url.startswith(("https://", "http://")):
            raise CommandError(OAUTH_NOT_CONFIGURED, f"{self.name}: the token URL is not an http(s) URL")
        import urllib.error
        import urllib.request

        request = urllib.request.Request(  # noqa: S310 - the scheme was just checked
            url, data=urlencode(form).encode(), headers=headers, method="POST"
        )
        try:
            with _opener().open(request, timeout=max(0.1, timeout)) as answer:
                return _token_answer(self.name, answer.status, answer.read(1024 * 1024))
        except urllib.error.HTTPError as refused:
            with refused:
                return _token_answer(self.name, refused.code, refused.read(1024 * 1024))
        except (OSError, ValueError) as error:  # refused, reset, timed out, not a URL
            raise CommandError(
                OAUTH_PROVIDER_ERROR,
                f"{self.name}: the token endpoint did not answer ({type(error).__name__})",
            ) from None


def _configured(config: Mapping[str, Any], key: str) -> Any:
    """The configuration's value at ``key``, dots leading into its tables; None when absent."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def parse_token_set(token_set: Mapping[str, Any] | str) -> dict[str, Any]:
    """A token set as the host keeps it in a secret (JSON text) or as an object."""
    parsed: Any = token_set
    if isinstance(token_set, str):
        try:
            parsed = json.loads(token_set)
        except ValueError:
            parsed = None
    if not isinstance(parsed, Mapping) or not isinstance(parsed.get("access_token"), str):
        raise CommandError(TOKEN_SET_INVALID, "the token set is not a JSON object with an access_token")
    remember(parsed.get("access_token"), parsed.get("refresh_token"))
    return dict(parsed)


def token_fingerprint(token_set: Mapping[str, Any]) -> str:
    """A token set's SHA-256 (its keys sorted): which set a host holds, without keeping the set itself."""
    text = json.dumps(token_set, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def looks_like_token_set(value: Any) -> bool:
    """Cheaply: might this parameter be a token set (an object, or JSON text, with an access_token)?"""
    if isinstance(value, Mapping):
        return "access_token" in value
    return isinstance(value, str) and value.startswith("{") and '"access_token"' in value


def is_expired(token_set: Mapping[str, Any]) -> bool:
    """Expired, or about to: a set without ``expires_at`` is taken as valid."""
    expires_at = token_set.get("expires_at")
    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
        return False
    return expires_at - EXPIRY_MARGIN <= time.time()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636's S256: base64url of the verifier's SHA-256, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _token_answer(name: str, status: int, raw: bytes) -> dict[str, Any]:
    try:
        tokens = json.loads(raw)
    except ValueError:
        tokens = None
    if status != 200 or not isinstance(tokens, dict) or "access_token" not in tokens:
        problem = tokens.get("error") if isinstance(tokens, dict) else None
        said = f" ({problem})" if isinstance(problem, str) else ""
        raise CommandError(OAUTH_PROVIDER_ERROR, f"{name}: the token endpoint answered {status}{said}")
    expires_in = tokens.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        tokens["expires_at"] = int(time.time() + expires_in)
    remember(tokens.get("access_token"), tokens.get("refresh_token"), tokens.get("id_token"))
    return tokens


def _form_quote(text: str) -> str:
    return urlencode({"": text})[1:]


_client_tokens: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
_cache_lock = threading.Lock()
