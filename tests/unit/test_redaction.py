from __future__ import annotations

import pytest

from connector_proxy.telemetry.redaction import redact


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "GET https://user:pw@api.example.com:8443/a/b?token=t1 failed",
            "GET https://api.example.com:8443/… failed",
        ),
        ("to http://h?code=c2", "to http://h/…"),
        ("origin http://h:80 only", "origin http://h:80 only"),
        ("origin http://h/ only", "origin http://h/ only"),
        (
            '"GET /v1/auth/x/callback?code=c3&state=s HTTP/1.1" 200',
            '"GET /v1/auth/x/callback?… HTTP/1.1" 200',
        ),
        (
            "Max retries exceeded with url: /x?api_key=k4 (Caused by",
            "Max retries exceeded with url: /x?… (Caused by",
        ),
        ("a question? no secret", "a question? no secret"),
    ],
)
def test_urls_shrink_to_their_origin_and_queries_disappear(line: str, shown: str) -> None:
    assert redact(line) == shown
