from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from connector_proxy.sdk.destinations import DestinationBlocked, DestinationPolicy
from connector_proxy.sdk.outbound import pooled_session


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("localhost", "127.0.0.1"),
        ("ip6-localhost", "::1"),
        ("mapped", "::ffff:127.0.0.1"),
        ("metadata", "169.254.169.254"),
        ("any", "0.0.0.0"),
        ("link", "fe80::1%eth0"),
    ],
)
def test_loopback_link_local_and_unspecified_are_refused_by_default(host: str, address: str) -> None:
    with pytest.raises(DestinationBlocked, match="refused"):
        DestinationPolicy().check(host, address)


def test_public_and_private_addresses_pass_by_default() -> None:
    DestinationPolicy().check("example.com", "93.184.216.34")
    DestinationPolicy().check("intranet", "10.1.2.3")


def test_the_operator_can_allow_loopback_and_link_local() -> None:
    DestinationPolicy(allow_loopback=True).check("localhost", "127.0.0.1")
    DestinationPolicy(allow_link_local=True).check("link", "169.254.10.10")
    DestinationPolicy(allow=("127.0.0.1/32",)).check("localhost", "127.0.0.1")


def test_deny_wins_over_everything() -> None:
    policy = DestinationPolicy(deny=("evil.example.com", "10.0.0.0/8"), allow_loopback=True)
    with pytest.raises(DestinationBlocked, match="deny list"):
        policy.check("EVIL.example.com.", "93.184.216.34")
    with pytest.raises(DestinationBlocked, match="deny list"):
        policy.check("innocent.example.com", "10.9.9.9")


def test_an_allow_list_refuses_everything_else() -> None:
    policy = DestinationPolicy(allow=("api.example.com", "*.partner.org", "192.0.2.0/24"))
    policy.check("api.example.com", "93.184.216.34")
    policy.check("eu.partner.org", "93.184.216.35")
    policy.check("unnamed", "192.0.2.7")
    with pytest.raises(DestinationBlocked, match="allow list"):
        policy.check("partner.org", "93.184.216.35")  # the wildcard is for subdomains
    with pytest.raises(DestinationBlocked, match="allow list"):
        policy.check("other.example.com", "93.184.216.36")


def test_an_allowed_name_that_resolves_to_loopback_is_still_refused() -> None:
    with pytest.raises(DestinationBlocked, match="loopback"):
        DestinationPolicy(allow=("api.example.com",)).check("api.example.com", "127.0.0.1")


def test_the_session_checks_each_connection_and_every_redirect(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok").respond_with_json({"ok": True})
    httpserver.expect_request("/away").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.2:{httpserver.port}/ok"}
    )
    refused = pooled_session(DestinationPolicy())
    allowed = pooled_session(DestinationPolicy(allow=("127.0.0.1/32",)))

    with pytest.raises(DestinationBlocked, match=r"127\.0\.0\.1"):
        refused.get(httpserver.url_for("/ok"), timeout=5)
    assert allowed.get(httpserver.url_for("/ok"), timeout=5).json() == {"ok": True}
    with pytest.raises(DestinationBlocked, match=r"127\.0\.0\.2"):
        allowed.get(httpserver.url_for("/away"), timeout=5)


def test_the_session_keeps_no_cookies(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/set").respond_with_data("", headers={"Set-Cookie": "task=one; Path=/"})
    session = pooled_session(DestinationPolicy(allow_loopback=True))
    session.get(httpserver.url_for("/set"), timeout=5)

    assert len(session.cookies) == 0
