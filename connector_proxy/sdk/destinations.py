"""Where outbound calls may go: allow and deny lists, and the addresses refused by default.

The policy is asked about every address a name resolves to, when each
connection is opened (``connector_proxy.sdk.outbound``), so a redirect or a
DNS answer that points inside the network is refused like a direct call.

An entry of ``allow`` or ``deny`` is one of:

- a host, ``api.example.com``, or its subdomains, ``*.example.com``;
- an address or a network, ``10.0.0.0/8``, ``::1``;
- any of those with a port, ``api.example.com:443``, ``127.0.0.1:8080``,
  ``[::1]:8080``, ``[fd00::/8]:443``;
- an origin, ``https://api.example.com`` (its scheme's port unless it names one).

An IPv6 address that carries an IPv4 address inside (mapped, compatible,
NAT64, 6to4, Teredo) is judged as both: it is refused if either is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_MAX_CONCURRENT = 500  # half a gevent worker's 1,000 connections: one origin cannot hold them all
DEFAULT_STUCK_AFTER = 10.0  # seconds; far beyond a slow answer's pace, far below the host's 45 s

DESTINATIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allow": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Hosts (example.com, *.example.com), addresses or networks (10.0.0.0/8),"
            " each with an optional port (example.com:443, [::1]:8080), or origins"
            " (https://example.com); when not empty, nothing else is reachable.",
        },
        "deny": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Entries shaped like allow's, always refused.",
        },
        "allow_loopback": {"type": "boolean", "description": "Allow 127.0.0.0/8 and ::1."},
        "allow_link_local": {
            "type": "boolean",
            "description": "Allow 169.254.0.0/16 and fe80::/10; cloud metadata addresses still need an"
            " allow entry that names them.",
        },
        "max_concurrent": {
            "type": "integer",
            "minimum": 1,
            "description": "Connections in flight to one origin (scheme, host, port) per worker;"
            " more calls wait in line up to their deadline.",
        },
        "stuck_after": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Seconds an origin at max_concurrent may go with no call to it starting or"
            " ending before it counts as stuck and new calls get DestinationBusy.",
        },
    },
}
NEVER = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "255.255.255.255/32",  # limited broadcast
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved
        "::/128",  # unspecified
        "ff00::/8",  # multicast
        "fec0::/10",  # site-local, deprecated but still routed by some stacks
    )
)
LOOPBACK = tuple(ipaddress.ip_network(net) for net in ("127.0.0.0/8", "::1/128"))
LINK_LOCAL = tuple(ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10"))
METADATA = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "fd00:ec2::254/128",  # AWS over IPv6
        "100.100.100.200/32",  # Alibaba Cloud
        "168.63.129.16/32",  # Azure's wire server
        "64:ff9b:1::/48",  # NAT64 local-use prefixes: where the IPv4 sits inside is the network's choice
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated IPv4-compatible
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT's IPv4-translated


class DestinationBlocked(Exception):
    """The policy refused a destination; the message names the host, never a URL."""


@dataclass(frozen=True)
class Entry:
    """One allow or deny entry: a host pattern or a network, with an optional scheme and port."""

    host: str | None = None
    network: Network | None = None
    port: int | None = None
    scheme: str | None = None

    @classmethod
    def parse(cls, text: str) -> Entry:
        """Raise ValueError naming what is wrong with ``text``."""
        text = text.strip()
        if "://" in text:
            return _origin_entry(text)
        host, port = _split_port(text)
        try:
            return cls(network=ipaddress.ip_network(host.strip("[]"), strict=False), port=port)
        except ValueError:
            pass
        if not host or any(char in host for char in "/[]@ "):
            raise ValueError(f"{text!r} is neither a host, a network, host:port nor an origin")
        return cls(host=host.lower().rstrip("."), port=port)

    def fits(self, port: int, scheme: str) -> bool:
        """The entry's port and scheme, where it names them, are the call's."""
        return (self.port is None or self.port == port) and (self.scheme is None or self.scheme == scheme)

    def names_host(self, name: str) -> bool:
        return self.host is not None and (
            name == self.host or (self.host.startswith("*.") and name.endswith(self.host[1:]))
        )

    def matches(self, host: str, ip: Address, port: int, scheme: str) -> bool:
        if not self.fits(port, scheme):
            return False
        return _in(ip, (self.network,)) if self.network is not None else self.names_host(host)


class DestinationPolicy:
    """Allow and deny lists, plus the ranges refused by default (see the module docstring)."""

    def __init__(
        self,
        allow: tuple[str, ...] = (),
        deny: tuple[str, ...] = (),
        allow_loopback: bool = False,
        allow_link_local: bool = False,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        stuck_after: float = DEFAULT_STUCK_AFTER,
    ) -> None:
        self.allow = parse_entries("destinations.allow", allow)
        self.deny = parse_entries("destinations.deny", deny)
        self.allow_loopback = allow_loopback
        self.allow_link_local = allow_link_local
        self.max_concurrent = max_concurrent
        self.stuck_after = stuck_after

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> DestinationPolicy:
        """Build from a table shaped like DESTINATIONS_SCHEMA (already validated)."""
        settings = table or {}
        return cls(
            allow=tuple(settings.get("allow", ())),
            deny=tuple(settings.get("deny", ())),
            **{key: settings[key] for key in _SCALARS if key in settings},
        )

    def check(self, host: str, address: str, port: int | None = None, scheme: str = "http") -> None:
        """Raise DestinationBlocked unless ``host`` at ``address`` (and ``port``) may be reached."""
        name = host.lower().rstrip(".")
        port = port or DEFAULT_PORTS.get(scheme, 80)
        for ip in _judged(_address(address)):
            reason = self._refusal(name, ip, port, scheme)
            if reason:
                shown = host if host == address else f"{host} ({address})"
                raise DestinationBlocked(f"{shown} is refused: {reason}")

    def named_origins(self) -> tuple[str, ...]:
        """The origins ``allow`` names one by one (no pattern, no network), for a live check to try:
        an origin as written, a host on https (http on port 80), with its port where it gives one."""
        named = []
        for entry in self.allow:
            host = _one_host(entry)
            if host is None:
                continue
            scheme = entry.scheme or ("http" if entry.port == 80 else "https")
            port = f":{entry.port}" if entry.port and entry.port != DEFAULT_PORTS[scheme] else ""
            named.append(f"{scheme}://{host}{port}")
        return tuple(dict.fromkeys(named))

    def may_allow(self, host: str, port: int, scheme: str) -> bool:
        """Whether a URL's host and port can pass the allow list, before any lookup.

        A name is judged by the host entries only; networks judge the addresses
        it resolves to when the connection opens, so a name passes here if any
        network entry could still take it.
        """
        if not self.allow:
            return True
        name, ip = host.lower().rstrip("."), literal_address(host)
        if ip is not None:
            return any(entry.matches(name, ip, port, scheme) for entry in self.allow)
        # a network entry decides on the addresses the name resolves to, when the connection opens
        return any(
            entry.fits(port, scheme) and (entry.network is not None or entry.names_host(name))
            for entry in self.allow
        )

    def _refusal(self, host: str, ip: Address, port: int, scheme: str) -> str | None:
        if any(entry.matches(host, ip, port, scheme) for entry in self.deny):
            return "it is on the deny list"
        if any(entry.network and entry.matches(host, ip, port, scheme) for entry in self.allow):
            return None  # an allowed network, named by the operator, lifts the default refusals
        if _in(ip, NEVER):
            return "unspecified, broadcast, multicast, reserved and site-local addresses are never reachable"
        if _in(ip, METADATA):
            return "cloud metadata addresses are refused unless an allow entry names them"
        if _in(ip, LOOPBACK) and not self.allow_loopback:
            return "loopback addresses are refused unless allow_loopback is set"
        if _in(ip, LINK_LOCAL) and not self.allow_link_local:
            return "link-local addresses are refused unless allow_link_local is set"
        if self.allow and not any(
            entry.host and entry.matches(host, ip, port, scheme) for entry in self.allow
        ):
            return "it is not on the allow list"
        return None


_SCALARS = ("allow_loopback", "allow_link_local", "max_concurrent", "stuck_after")


def parse_entries(key: str, texts: tuple[str, ...]) -> tuple[Entry, ...]:
    """Parse allow or deny entries; a ValueError names ``key`` and the entry at fault."""
    try:
        return tuple(Entry.parse(text) for text in texts)
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None


def _origin_entry(text: str) -> Entry:
    parts = urlsplit(text)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{text!r}: an origin is http:// or https:// and a host, with no path")
    if parts.username or parts.query or parts.fragment:
        raise ValueError(f"{text!r}: an origin carries no credentials, query or fragment")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    literal = literal_address(parts.hostname)
    if literal is not None:
        return Entry(network=ipaddress.ip_network(literal), port=port, scheme=parts.scheme)
    return Entry(host=parts.hostname.lower().rstrip("."), port=port, scheme=parts.scheme)


def _one_host(entry: Entry) -> str | None:
    """The one host an entry names, as a URL writes it; None for a pattern or a network."""
    if entry.host is not None:
        return None if "*" in entry.host else entry.host
    if entry.network is None or entry.network.num_addresses != 1:
        return None
    address = entry.network.network_address
    return f"[{address}]" if address.version == 6 else str(address)


def _split_port(text: str) -> tuple[str, int | None]:
    """``host:port`` and ``[v6]:port``; a bare IPv6 address or network keeps its colons."""
    if text.startswith("["):
        inside, closed, rest = text[1:].partition("]")
        if not closed:
            raise ValueError(f"{text!r}: a '[' without its ']'")
        return inside, _port(rest[1:], text) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, None


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def parse_destination(url: str) -> tuple[str, str, int]:
    """An http(s) URL's scheme, host (without IPv6 brackets) and port, or ValueError saying what is
    wrong with it, phrased to follow the field's name and never quoting the URL (it may hold secrets)."""
    # imported here: the configuration loads this module before gevent patches ssl, which urllib3 imports
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in DEFAULT_PORTS:
        raise ValueError("it is not an http or https URL")
    if any(character <= " " or character == "\x7f" for character in url):
        raise ValueError("it holds a space or a control character")
    try:
        urlsplit(url)  # what the standard library cannot read (an unclosed "[") is refused too
        parts = parse_url(url)
        if parts.host:
            parts.host.encode("idna")  # an empty or over-long label fails here, not at connect time
    except (LocationParseError, UnicodeError, ValueError):
        raise ValueError("its host or port cannot be read") from None
    if not parts.host:
        raise ValueError("it names no host")
    port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ValueError("its port is not from 1 to 65535")
    return scheme, parts.host.strip("[]"), port


def literal_address(host: str) -> Address | None:
    """The address a URL's host spells, if it is one (``[::1]`` included), else None."""
    try:
        return _address(host.strip("[]"))
    except ValueError:
        return None


def _address(text: str) -> Address:
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    return ip


def _judged(ip: Address) -> list[Address]:
    """The address, and every IPv4 address it carries inside (each must pass)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    inside: list[Address] = [ip]
    if ip in NAT64 or ip in TRANSLATED or (ip in COMPATIBLE and int(ip) > 1):
        inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))  # the low 32 bits
    if ip.sixtofour is not None:
        inside.append(ip.sixtofour)
    if ip.teredo is not None:
        inside.extend(ip.teredo)  # the relay server, and the client behind the NAT
    return inside


def _in(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)
