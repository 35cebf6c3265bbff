"""Outbound HTTP for connectors: pooled, bounded, and refused where the operator says.

The destination policy is checked on the addresses a name resolves to, when
each connection is opened, so a redirect or a DNS answer that points inside
the network is refused like a direct call. Connections are pooled per worker,
and each origin gets at most ``max_concurrent`` of them at once: a bulkhead,
so a hung upstream holds a few threads and calls beyond them are refused at
once with ``DestinationBusy`` (503) instead of queueing behind it. A call
waits in line for a slot only while slots are moving (calls to the origin
start and end: the pool is merely full), so a burst to a healthy upstream
is served, not refused.

    session = pooled_session(DestinationPolicy.from_config(config["destinations"]))
    pool = pool_manager(policy)  # the same guards for code that speaks urllib3
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, EmptyPoolError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection, is_connection_dropped

from connector_proxy.sdk.errors import ErrorCode

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DESTINATIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allow": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Hosts (example.com, *.example.com) or networks (10.0.0.0/8);"
            " when not empty, nothing else is reachable.",
        },
        "deny": {"type": "array", "items": {"type": "string"}, "description": "Always refused."},
        "allow_loopback": {"type": "boolean", "description": "Allow 127.0.0.0/8 and ::1."},
        "allow_link_local": {
            "type": "boolean",
            "description": "Allow 169.254.0.0/16 and fe80::/10 (cloud metadata lives there).",
        },
        "max_concurrent": {
            "type": "integer",
            "minimum": 1,
            "description": "Calls in flight to one origin (scheme, host, port) per worker;"
            " more are refused at once with DestinationBusy.",
        },
    },
}
DEFAULT_MAX_CONCURRENT = 4  # half a worker's default 8 threads: one destination cannot take them all
FLOW_WINDOW = 0.05  # seconds: how recently slots must have moved for a call to wait for one
LINE_WAIT = 0.1  # seconds a call waits in line before it is refused after all
KEPT_ORIGINS = 64  # pools of distinct origins kept per worker; the least used is closed first

DESTINATION_BUSY = ErrorCode(
    "DestinationBusy",
    "As many calls as destinations.max_concurrent are already in flight to this origin in this"
    " worker (it is slow or hung); refused at once so others keep flowing. Transient: retry later.",
    503,
)


class DestinationBlocked(Exception):
    """The policy refused a destination; the message names the host, never a URL."""


class DestinationBusy(EmptyPoolError):
    """The origin's calls in flight are at the limit; the daemon answers DESTINATION_BUSY.

    An EmptyPoolError underneath, so urllib3 unwinds it without touching the pool.
    """

    def __init__(self, pool: HTTPConnectionPool, limit: int) -> None:
        self.origin = f"{pool.scheme}://{pool.host}:{pool.port}"
        self.reason = f"{self.origin} already has {limit} calls in flight in this worker"
        super().__init__(pool, self.reason)


class DestinationPolicy:
    """Allow and deny lists of hosts and networks, plus the ranges refused by default."""

    def __init__(
        self,
        allow: tuple[str, ...] = (),
        deny: tuple[str, ...] = (),
        allow_loopback: bool = False,
        allow_link_local: bool = False,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self.allow_hosts, self.allow_networks = _split_entries(allow)
        self.deny_hosts, self.deny_networks = _split_entries(deny)
        self.allow_loopback = allow_loopback
        self.allow_link_local = allow_link_local
        self.max_concurrent = max_concurrent

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> DestinationPolicy:
        """Build from a table shaped like DESTINATIONS_SCHEMA (already validated)."""
        table = table or {}
        return cls(
            allow=tuple(table.get("allow", ())),
            deny=tuple(table.get("deny", ())),
            allow_loopback=bool(table.get("allow_loopback", False)),
            allow_link_local=bool(table.get("allow_link_local", False)),
            max_concurrent=int(table.get("max_concurrent", DEFAULT_MAX_CONCURRENT)),
        )

    def check(self, host: str, address: str) -> None:
        """Raise DestinationBlocked unless ``host`` at ``address`` may be reached."""
        reason = self._refusal(host.lower().rstrip("."), _address(address))
        if reason:
            shown = host if host == address else f"{host} ({address})"
            raise DestinationBlocked(f"{shown} is refused: {reason}")

    def _refusal(self, host: str, ip: Address) -> str | None:
        if _host_matches(host, self.deny_hosts) or _in_networks(ip, self.deny_networks):
            return "it is on the deny list"
        if _in_networks(ip, self.allow_networks):
            return None  # an explicitly allowed network lifts the default refusals
        if ip.is_unspecified or ip.is_multicast:
            return "unspecified and multicast addresses are never reachable"
        if ip.is_loopback and not self.allow_loopback:
            return "loopback addresses are refused unless allow_loopback is set"
        if ip.is_link_local and not self.allow_link_local:
            return "link-local addresses are refused unless allow_link_local is set"
        if (self.allow_hosts or self.allow_networks) and not _host_matches(host, self.allow_hosts):
            return "it is not on the allow list"
        return None


def origin_of(url: str) -> str:
    """``scheme://host[:port]``: all a message or a log line may show of a URL
    (its path, query and credentials may hold the host's secrets)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def pooled_session(policy: DestinationPolicy, max_redirects: int = 5) -> requests.Session:
    """A requests Session whose every connection obeys ``policy``.

    Environment proxies and ``.netrc`` are ignored and cookies are never kept,
    so one task's call cannot leak into another's. A streamed response holds
    its origin's slot until it is read or closed: use it in a ``with`` block.
    """
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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
        "http": _guarded_pool(HTTPConnectionPool, _guarded(HTTPConnection, policy)),
        "https": _guarded_pool(HTTPSConnectionPool, _guarded(HTTPSConnection, policy)),
    }


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        maxsize = policy.max_concurrent
        super().__init__(pool_connections=KEPT_ORIGINS, pool_maxsize=maxsize, max_retries=0, pool_block=True)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pools(self._policy)


def _guarded_pool(base: type[HTTPConnectionPool], connection: type[HTTPConnection]) -> type[Any]:
    class GuardedPool(base):  # type: ignore[valid-type,misc]
        """A pool whose size is a hard limit; callers wait in line for a slot only while calls flow.

        A freed slot goes to the longest waiter, so a caller that just gave
        one back cannot take it again ahead of the line.
        """

        ConnectionCls = connection

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.last_moved = time.monotonic()  # when a slot was last taken or given back
            self._line: deque[_Waiter] = deque()
            self._line_lock = threading.Lock()

        def _get_conn(self, timeout: float | None = None) -> HTTPConnection:
            with self._line_lock:
                if not self._line:
                    try:
                        conn: HTTPConnection = super()._get_conn(timeout=0)
                        self.last_moved = time.monotonic()
                        return conn
                    except EmptyPoolError:
                        pass
                # slots moving lately mean calls come and go: a wait in line will do; none
                # moving for a while means the origin is stuck, and waiting spreads the stall
                if time.monotonic() - self.last_moved >= FLOW_WINDOW:
                    raise DestinationBusy(self, self.pool.maxsize)
                waiter = _Waiter()
                self._line.append(waiter)
            handed = waiter.ready.wait(LINE_WAIT)
            with self._line_lock:
                if not handed and not waiter.ready.is_set():
                    self._line.remove(waiter)
                    raise DestinationBusy(self, self.pool.maxsize)
            return self._usable(waiter.conn)

        def _put_conn(self, conn: HTTPConnection | None) -> None:
            with self._line_lock:
                self.last_moved = time.monotonic()
                if self._line:
                    waiter = self._line.popleft()
                    waiter.conn = conn
                    waiter.ready.set()
                    return
            super()._put_conn(conn)

        def _usable(self, conn: HTTPConnection | None) -> HTTPConnection:
            """What urllib3 does with a connection taken from the pool, for one handed over."""
            if conn is not None and is_connection_dropped(conn):
                conn.close()
            new: HTTPConnection = conn or self._new_conn()
            return new

    return GuardedPool


class _Waiter:
    __slots__ = ("conn", "ready")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.conn: HTTPConnection | None = None


def _guarded(base: type[HTTPConnection], policy: DestinationPolicy) -> type[HTTPConnection]:
    class GuardedConnection(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            addresses = _resolve(self)
            for address in addresses:
                policy.check(self.host, address)  # every answer, so no rebinding sneaks in
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


def _split_entries(entries: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[Network, ...]]:
    hosts: list[str] = []
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.append(entry.lower().rstrip("."))
    return tuple(hosts), tuple(networks)


def _address(text: str) -> Address:
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return ip


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    return any(
        host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])) for pattern in patterns
    )


def _in_networks(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)
