"""Connections that obey the destination policy, and the pools and sessions that hold them.

The policy is checked on every address a name resolves to, when each connection is opened, and the
connection is made to the checked address: a redirect or a DNS answer pointing inside the network
is refused like a direct call. The connection class overrides urllib3's private
``HTTPConnection._new_conn`` and reads its private ``_dns_host`` (urllib3 2.x, bounded in pyproject.toml).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.outbound.bulkhead import GuardedHTTPSPool, GuardedPool, bound

if TYPE_CHECKING:  # requests (and charset_normalizer, idna) is imported by the first session
    import requests

KEPT_ORIGINS = 64  # pools of distinct origins kept per worker; the least used is closed first


def origin_of(url: str) -> str:
    """``scheme://host[:port]``: all a message or a log line may show of a URL
    (its path, query and credentials may hold the host's secrets)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # named in an error message: it must not become a crash of its own
        return "(an unreadable URL)"
    return f"{parts.scheme}://{parts.hostname}{port}"


def failure_reason(error: BaseException) -> str:
    """Why a connection failed, in words a message may show: the innermost OS-level reason
    (``connection refused``), never a URL (urllib3's exceptions carry one, query and all)."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if "NameResolution" in type(current).__name__:
            return "the host name does not resolve"
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror).lower()
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return "the connection failed"


def pooled_session(policy: DestinationPolicy, max_redirects: int = 5) -> requests.Session:
    """A requests Session whose every connection obeys ``policy``.

    Environment proxies and ``.netrc`` are ignored and cookies are never kept,
    so one task's call cannot leak into another's. A streamed response holds
    its origin's slot until it is read or closed: use it in a ``with`` block.
    """
    # imported here: a worker whose connectors speak urllib3 (the http connector) never loads
    # requests, which with charset_normalizer and idna weighs ~4 MiB per worker
    from connector_proxy.sdk.outbound.sessions import guarded_session

    return guarded_session(guarded_pools(policy), KEPT_ORIGINS, policy.max_concurrent, max_redirects)


def pool_manager(policy: DestinationPolicy) -> PoolManager:
    """A urllib3 PoolManager with the same guards, for hot paths that skip requests.

    Release every response (``release_conn`` after reading, ``close`` first if
    the body was not read to its end): an unreleased one keeps its slot.
    """
    manager = PoolManager(num_pools=KEPT_ORIGINS, maxsize=policy.max_concurrent, block=True)
    manager.pool_classes_by_scheme = guarded_pools(policy)
    return manager


def guarded_pools(policy: DestinationPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes by scheme whose connections obey ``policy`` and whose size is a hard limit."""
    return {
        "http": bound(GuardedPool, _guarded(HTTPConnection, policy), policy.stuck_after),
        "https": bound(GuardedHTTPSPool, _guarded(HTTPSConnection, policy), policy.stuck_after),
    }


def _guarded(base: type[HTTPConnection], policy: DestinationPolicy) -> type[HTTPConnection]:
    scheme = "https" if issubclass(base, HTTPSConnection) else "http"

    class GuardedConnection(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            addresses = _resolve(self)
            for address in addresses:  # every answer, so no rebinding sneaks in
                policy.check(self.host, address, self.port, scheme)
            return _connect(self, addresses)

    return GuardedConnection


def _resolve(connection: HTTPConnection) -> list[str]:
    try:
        infos = socket.getaddrinfo(connection._dns_host, connection.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NameResolutionError(connection.host, connection, error) from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _connect(connection: HTTPConnection, addresses: list[str]) -> socket.socket:
    last: OSError | None = None
    for address in addresses:  # connect to the checked address, not a fresh lookup
        try:
            return create_connection(
                (address, connection.port or 80),
                connection.timeout,
                source_address=connection.source_address,
                socket_options=connection.socket_options,
            )
        except TimeoutError as error:
            raise ConnectTimeoutError(connection, f"Connection to {connection.host} timed out") from error
        except OSError as error:
            last = error
    raise NewConnectionError(connection, f"Failed to establish a new connection: {last}") from last
