"""The browser's OAuth sign-in: which redirects are allowed, and the state bound to the browser.

A sign-in's state and PKCE verifier live in a signed, expiring cookie named
after the state, set on the browser that started it: a callback is accepted
only from that browser, within ``oauth.state_ttl``, and once: the state is
spent server-side (:mod:`connector_proxy.stores.one_time_values`), so a replayed callback with
the same cookie is refused too. Any daemon process (or instance sharing
``oauth.session_secret``) can finish what another began.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from itsdangerous import BadSignature, URLSafeTimedSerializer

from connector_proxy.config import OAuthSettings
from connector_proxy.host.error_codes import OAUTH_STATE_INVALID, REDIRECT_NOT_ALLOWED
from connector_proxy.sdk.errors import CommandError
from connector_proxy.stores.one_time_values import Spent

COOKIE_PREFIX = "connector_proxy_signin_"
COOKIE_PATH = "/v1/auth/"
_STATE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what secrets.token_urlsafe(32) makes


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in between the browser leaving for the provider and coming back."""

    auth_id: str
    state: str
    verifier: str
    redirect_url: str

    @property
    def cookie_name(self) -> str:
        return cookie_name(self.state)


class SignIns:
    """Starts and finishes sign-ins for the configured redirect allowlist."""

    def __init__(self, settings: OAuthSettings, spent: Spent) -> None:
        self.settings = settings
        self.spent = spent
        key = settings.session_secret or secrets.token_urlsafe(32)
        self._signer = URLSafeTimedSerializer(key, salt="connector-proxy-oauth-sign-in")

    def start(self, auth_id: str, redirect_url: str | None) -> PendingSignIn:
        """A new sign-in, refused unless the browser is to be sent back somewhere allowed."""
        if not redirect_url or not self.redirect_allowed(redirect_url):
            raise CommandError(
                REDIRECT_NOT_ALLOWED,
                "redirect_url is missing or does not start with one of oauth.redirect_urls",
            )
        return PendingSignIn(auth_id, secrets.token_urlsafe(32), secrets.token_urlsafe(48), redirect_url)

    def redirect_allowed(self, url: str) -> bool:
        # each prefix holds a path, so "https://host/" cannot match "https://host.evil/"
        return not any(c in url for c in "\r\n\\") and any(
            url.startswith(p) for p in self.settings.redirect_urls
        )

    def cookie_value(self, pending: PendingSignIn) -> str:
        fields = {"a": pending.auth_id, "s": pending.state, "v": pending.verifier, "r": pending.redirect_url}
        return self._signer.dumps(fields)

    def finish(self, cookies: Mapping[str, str], auth_id: str, state: str | None) -> PendingSignIn:
        """The sign-in this browser started with this state, if it is still young enough."""
        if not well_formed(state):
            raise CommandError(
                OAUTH_STATE_INVALID, "The provider sent the browser back without a valid state"
            )
        signed = cookies.get(cookie_name(state))
        if signed is None:
            raise CommandError(OAUTH_STATE_INVALID, "This browser started no sign-in with that state")
        try:
            fields: Any = self._signer.loads(signed, max_age=int(self.settings.state_ttl))
        except BadSignature:  # tampered with, or signed before a restart, or too old
            raise CommandError(OAUTH_STATE_INVALID, "The sign-in expired or was not started here") from None
        if not hmac.compare_digest(str(fields.get("s")), state) or fields.get("a") != auth_id:
            raise CommandError(OAUTH_STATE_INVALID, "The state does not belong to this sign-in")
        if not self.spent.spend(state, self.settings.state_ttl):
            raise CommandError(OAUTH_STATE_INVALID, "This sign-in was already finished: a state is used once")
        return PendingSignIn(auth_id, state, str(fields["v"]), str(fields["r"]))


def well_formed(state: str | None) -> TypeGuard[str]:
    """A state we could have made: only then does it name a cookie (anything else cannot)."""
    return bool(state) and _STATE.match(state or "") is not None


def cookie_name(state: str) -> str:
    return f"{COOKIE_PREFIX}{state[:16]}"
