"""Where a command that PUTs its own result back reaches the daemon (jobs.relay_url, else server.bind)."""

from __future__ import annotations

import dataclasses

import pytest

from connector_proxy.config import JobSettings, ServerSettings, Settings
from connector_proxy.jobs.relay import relay_base


@pytest.mark.parametrize(
    ("bind", "relay_url", "expected"),
    [
        ("127.0.0.1:7004", "", "http://127.0.0.1:7004"),
        ("0.0.0.0:8000", "", "http://127.0.0.1:8000"),
        ("[::]:8000", "", "http://127.0.0.1:8000"),
        ("10.1.2.3:8000", "", "http://10.1.2.3:8000"),
        ("unix:/run/proxy.sock", "", None),
        ("unix:/run/proxy.sock", "https://proxy.internal:8443/", "https://proxy.internal:8443"),
    ],
)
def test_the_relay_base_is_the_configured_url_or_the_bound_port_on_loopback(
    bind: str, relay_url: str, expected: str | None
) -> None:
    settings = dataclasses.replace(
        Settings(), server=ServerSettings(bind=bind), jobs=JobSettings(relay_url=relay_url)
    )
    assert relay_base(settings) == expected
