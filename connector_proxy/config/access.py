"""``[auth]``, ``[cors]``, ``[metrics]``, ``[oauth]`` and ``[secrets]``: who may call, scrape and
sign in, and how long a secret reference's value is kept; each key given by reference resolved here."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector_proxy.config.values import ConfigError
from connector_proxy.secrets import SecretReferenceError, resolve_reference


@dataclass(frozen=True)
class AuthSettings:
    """API keys (several, for rotation) and the /v1 paths open without one."""

    api_keys: tuple[str, ...] = ()
    open_paths: tuple[str, ...] = ("/v1/auth/",)
    page_session_seconds: float = 8 * 3600.0  # a catalog page sign-in lasts a working day at most


def resolve_api_keys(auth: AuthSettings, environ: Mapping[str, str]) -> AuthSettings:
    try:
        keys = tuple(resolve_reference(key, environ) for key in auth.api_keys)
    except SecretReferenceError as error:
        raise ConfigError(f"auth.api_keys: {error}") from None
    if any(not key for key in keys):
        raise ConfigError("auth.api_keys: an API key is empty")
    return dataclasses.replace(auth, api_keys=keys)


def check_auth(auth: AuthSettings) -> None:
    if auth.page_session_seconds <= 0:
        raise ConfigError("auth.page_session_seconds must be positive")
    for path in auth.open_paths:
        if not path.startswith("/v1/"):
            raise ConfigError(f"auth.open_paths: {path!r} must start with /v1/")


@dataclass(frozen=True)
class CorsSettings:
    """Browser origins allowed to call /v1/ across origins; none by default (the host calls server-side)."""

    origins: tuple[str, ...] = ()


ORIGIN = re.compile(r"https?://[^/?#*\s]+")


def check_origins(cors: CorsSettings) -> None:
    """Each origin exactly as a browser sends it; no wildcard: the list is an allowlist."""
    for origin in cors.origins:
        if not ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"cors.origins: {origin!r} must be an origin, scheme://host[:port], with no path or '*'"
            )


@dataclass(frozen=True)
class MetricsSettings:
    """Who may scrape ``/metrics``."""

    # a key of its own for the scraper (Authorization: Bearer <key>), plain or env:/file:; else the API keys
    key: str = field(default="", repr=False)


def resolve_metrics_key(metrics: MetricsSettings, environ: Mapping[str, str]) -> MetricsSettings:
    try:
        return dataclasses.replace(metrics, key=resolve_reference(metrics.key, environ))
    except SecretReferenceError as error:
        raise ConfigError(f"metrics.key: {error}") from None


@dataclass(frozen=True)
class OAuthSettings:
    """The browser's sign-in through the proxy (``/v1/auth/...``)."""

    # where the browser may be sent back with its tokens: URL prefixes, each at least an origin and "/"
    redirect_urls: tuple[str, ...] = ()
    state_ttl: float = 600.0  # seconds a sign-in may take between start and callback
    # signs the sign-in's cookie; empty: a random key per start (sign-ins in flight fail across restarts)
    session_secret: str = field(default="", repr=False)
    # the proxy's URL as the browser reaches it, for the provider's redirect back; empty: from the request
    public_url: str = ""
    # seconds a renewed token set the host could not store yet is kept for its next call (30 days)
    keep_renewed: float = 2_592_000.0


def resolve_oauth(oauth: OAuthSettings, environ: Mapping[str, str]) -> OAuthSettings:
    try:
        secret = resolve_reference(oauth.session_secret, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"oauth.session_secret: {error}") from None
    for prefix in oauth.redirect_urls:
        scheme, _, rest = prefix.partition("://")
        if scheme not in ("http", "https") or "/" not in rest or rest.startswith("/"):
            raise ConfigError(
                f"oauth.redirect_urls: {prefix!r} must be an http(s) URL with a path, at least '/'"
            )
    if oauth.state_ttl <= 0:
        raise ConfigError("oauth.state_ttl must be positive")
    if oauth.keep_renewed <= 0:
        raise ConfigError("oauth.keep_renewed must be positive")
    return dataclasses.replace(oauth, session_secret=secret)


@dataclass(frozen=True)
class SecretsSettings:
    """How long a connector's secrets kept elsewhere (a file, a secrets manager) are used before they
    are read again; 0: only at start-up and on SIGHUP."""

    cache_seconds: float = 300.0


def check_secrets(secrets: SecretsSettings) -> None:
    if secrets.cache_seconds < 0:
        raise ConfigError("secrets.cache_seconds must be 0 (read at start-up only) or more")
