"""The destination policy on the many spellings of the addresses it refuses, and on ports and origins."""

from __future__ import annotations

import pytest

from connector_proxy.sdk.destinations import DestinationBlocked, DestinationPolicy


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::7f00:1", "loopback"),  # IPv4-compatible 127.0.0.1
        ("::ffff:0:7f00:1", "loopback"),  # IPv4-translated (SIIT)
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 wrapping 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 of the metadata address
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("64:ff9b:1::a00:1", "metadata"),  # NAT64 local-use: cannot be unwrapped
        ("0.1.2.3", "never"),
        ("255.255.255.255", "never"),
        ("fec0::1", "never"),
        ("240.0.0.1", "never"),
        ("169.254.10.10", "link-local"),
    ],
)
def test_addresses_that_wrap_or_stand_for_refused_ones_are_refused(address: str, why: str) -> None:
    with pytest.raises(DestinationBlocked, match=why):
        DestinationPolicy().check("host", address)


def test_wrapped_public_addresses_pass() -> None:
    policy = DestinationPolicy()
    policy.check("nat64", "64:ff9b::5db8:d822")  # 93.184.216.34 through NAT64
    policy.check("sixtofour", "2002:5db8:d822::1")


def test_metadata_passes_only_when_an_allow_entry_names_it() -> None:
    with pytest.raises(DestinationBlocked, match="metadata"):
        DestinationPolicy(allow_link_local=True).check("metadata", "169.254.169.254")
    DestinationPolicy(allow=("169.254.169.254/32",)).check("metadata", "169.254.169.254")


def test_an_allowed_port_opens_that_port_only() -> None:
    policy = DestinationPolicy(allow=("127.0.0.1:8080", "api.example.com:443"))
    policy.check("127.0.0.1", "127.0.0.1", 8080)
    policy.check("api.example.com", "93.184.216.34", 443, "https")
    with pytest.raises(DestinationBlocked, match="loopback"):
        policy.check("127.0.0.1", "127.0.0.1", 6379)  # Redis beside it stays closed
    with pytest.raises(DestinationBlocked, match="allow list"):
        policy.check("api.example.com", "93.184.216.34", 80)


def test_origins_name_a_scheme_and_its_port() -> None:
    policy = DestinationPolicy(allow=("https://api.example.com", "http://[::1]:8080"))
    policy.check("api.example.com", "93.184.216.34", 443, "https")
    policy.check("::1", "::1", 8080, "http")
    with pytest.raises(DestinationBlocked, match="allow list"):
        policy.check("api.example.com", "93.184.216.34", 443, "http")
    with pytest.raises(DestinationBlocked, match="loopback"):
        policy.check("::1", "::1", 8081, "http")


def test_a_denied_port_is_refused_even_on_an_allowed_host() -> None:
    policy = DestinationPolicy(allow=("10.0.0.0/8",), deny=("10.0.0.5:6379",))
    policy.check("cache", "10.0.0.5", 443)
    with pytest.raises(DestinationBlocked, match="deny list"):
        policy.check("cache", "10.0.0.5", 6379)


@pytest.mark.parametrize(
    "entry",
    ["example.com:http", "example.com:0", "ftp://example.com", "https://example.com/path", "a b", "[::1"],
)
def test_a_malformed_entry_is_refused_at_start_up(entry: str) -> None:
    with pytest.raises(ValueError, match=r"^destinations\.allow: "):
        DestinationPolicy(allow=(entry,))
