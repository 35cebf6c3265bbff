"""HTTP to another proxy: through the SDK's guarded pools, by a deadline, its failures named.

Each proxy gets a policy that allows its own origin only, and redirects are
never followed, so nothing a remote answers can make us call anywhere else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3 import BaseHTTPResponse, PoolManager, Timeout
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from connector_proxy.config import ProxySettings
from connector_proxy.host.error_codes import (
    PROXY_INVALID_ANSWER,
    PROXY_TIMEOUT,
    PROXY_UNAVAILABLE,
    outbound_refusal,
)
from connector_proxy.sdk.destinations import DestinationBlocked, DestinationPolicy
from connector_proxy.sdk.errors import CommandError, OutboundRefusal
from connector_proxy.sdk.outbound import (
    BodyLate,
    BodyTooLarge,
    failure_reason,
    origin_of,
    pool_manager,
    read_body,
)

VIA_HEADER = "Connector-Proxy-Via"  # on every request we send: the remote serves it from its own connectors
API_KEY_HEADER = "Spiff-Connector-Proxy-Api-Key"
CONNECT_TIMEOUT = 5.0


class AnswerTooLarge(CommandError):
    """The remote answered more bytes than we take."""


@dataclass(frozen=True)
class Answer:
    """A remote's whole answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Remote:
    """One other proxy as this process talks to it: its own pool, made after the fork."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.origin = origin_of(settings.url)
        self._pool: tuple[int, PoolManager] | None = None

    def request(
        self,
        method: str,
        path: str,
        timeout: float,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        with_key: bool = True,
        max_bytes: int | None = None,
    ) -> Answer:
        """Send and read the whole answer within ``timeout`` seconds (and the proxy's own timeout),
        at most ``max_bytes`` of it (``max_response_bytes``)."""
        timeout = min(timeout, self.settings.timeout)
        sent = {VIA_HEADER: "connector-proxy", **(headers or {})}
        if with_key and self.settings.api_key:
            sent[API_KEY_HEADER] = self.settings.api_key
        deadline = time.monotonic() + timeout
        try:
            response = self._manager().urlopen(
                method,
                f"{self.settings.url}{path}",
                body=body,
                headers=sent,
                timeout=Timeout(connect=min(CONNECT_TIMEOUT, timeout), read=timeout),
                retries=False,
                redirect=False,
                pool_timeout=timeout,
                preload_content=False,
            )
            try:
                content = self._read(response, deadline, max_bytes or self.settings.max_response_bytes)
            finally:
                _release(response)
        except CommandError:
            raise
        except OutboundRefusal as refusal:
            raise outbound_refusal(refusal.kind, str(getattr(refusal, "reason", refusal))) from None
        except DestinationBlocked as blocked:
            raise self._unavailable(f"the destination policy refuses it: {blocked}") from None
        except Urllib3Timeout as late:
            if isinstance(late, NewConnectionError):
                raise self._unavailable(failure_reason(late)) from None
            raise self._late(timeout) from None
        except (HTTPError, OSError) as failed:
            raise self._unavailable(failure_reason(failed)) from None
        return Answer(response.status, dict(response.headers), content)

    def _manager(self) -> PoolManager:
        """This process's pool: sockets must not cross a fork (the master reads catalogs too)."""
        if self._pool is None or self._pool[0] != os.getpid():
            host = urlsplit(self.settings.url).hostname or ""
            # the proxy's own origin only; loopback too when that is where the operator put it
            policy = DestinationPolicy(allow=(self.origin,), allow_loopback=_loopback(host))
            self._pool = (os.getpid(), pool_manager(policy))
        return self._pool[1]

    def _read(self, response: BaseHTTPResponse, deadline: float, limit: int) -> bytes:
        """The whole body by the deadline and within ``limit`` bytes, however slowly it comes."""
        try:
            return read_body(response, deadline, limit)
        except BodyTooLarge:
            raise self._too_large(limit) from None
        except BodyLate:
            raise self._late(None) from None

    def _unavailable(self, why: str) -> CommandError:
        return CommandError(PROXY_UNAVAILABLE, f"proxy {self.settings.name} ({self.origin}): {why}")

    def _late(self, timeout: float | None) -> CommandError:
        within = f" within {timeout:g} s" if timeout else " by the deadline"
        message = f"proxy {self.settings.name} ({self.origin}) gave no answer{within}"
        return CommandError(PROXY_TIMEOUT, message)

    def _too_large(self, limit: int) -> CommandError:
        message = f"proxy {self.settings.name} ({self.origin}) answered more than {limit} bytes"
        return AnswerTooLarge(PROXY_INVALID_ANSWER, message)


def _release(response: BaseHTTPResponse) -> None:
    """Give the connection back; one whose body was not read to its end is closed first."""
    if not response.closed:
        response.close()
    response.release_conn()


def _loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host in ("::1", "[::1]")
