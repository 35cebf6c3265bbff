"""Outbound HTTP for connectors: pooled, and refused where the operator says.

The destination policy is checked on the addresses a name resolves to, when
each connection is opened, so a redirect or a DNS answer that points inside
the network is refused like a direct call. Connections are pooled per worker.

    session = pooled_session(DestinationPolicy.from_config(config["destinations"]))
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

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
    },
}


class DestinationBlocked(Exception):
    """The policy refused a destination; the message names the host, never a URL."""


class DestinationPolicy:
    """Allow and deny lists of hosts and networks, plus the ranges refused by default."""

    def __init__(
        self,
        allow: tuple[str, ...] = (),
        deny: tuple[str, ...] = (),
        allow_loopback: bool = False,
        allow_link_local: bool = False,
    ) -> None:
        self.allow_hosts, self.allow_networks = _split_entries(allow)
        self.deny_hosts, self.deny_networks = _split_entries(deny)
        self.allow_loopback = allow_loopback
        self.allow_link_local = allow_link_local

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> DestinationPolicy:
        """Build from a table shaped like DESTINATIONS_SCHEMA (already validated)."""
        table = table or {}
        return cls(
            allow=tuple(table.get("allow", ())),
            deny=tuple(table.get("deny", ())),
            allow_loopback=bool(table.get("allow_loopback", False)),
            allow_link_local=bool(table.get("allow_link_local", False)),
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


def pooled_session(
    policy: DestinationPolicy, pool_size: int = 16, max_redirects: int = 5
) -> requests.Session:
    """A requests Session whose every connection obeys ``policy``.

    Environment proxies and ``.netrc`` are ignored and cookies are never kept,
    so one task's call cannot leak into another's.
    """
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(policy, pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: DestinationPolicy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type(
                "GuardedHTTPPool",
                (HTTPConnectionPool,),
                {"ConnectionCls": _guarded(HTTPConnection, self._policy)},
            ),
            "https": type(
                "GuardedHTTPSPool",
                (HTTPSConnectionPool,),
                {"ConnectionCls": _guarded(HTTPSConnection, self._policy)},
            ),
        }


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
