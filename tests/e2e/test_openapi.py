"""``/v1/openapi.json`` through the real daemon: every route is in it, and a bounded schemathesis run
finds no answer the document does not describe, no 5xx of the proxy's own, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi.schemas import OpenApiSchema

from connector_proxy.testing import RunningDaemon
from tests.support import TEST_ENV, Daemon, client_from

KEY = "fuzz-key-0123456789"
HEADERS = {"Spiff-Connector-Proxy-Api-Key": KEY}
# the http connector alone (the tests' sample crashes and sleeps on purpose), reaching only a closed port
CONFIG = f"""
[server]
log_level = "warning"
[auth]
api_keys = ["{KEY}"]
[discovery]
enable_unlisted = false
[connectors.http.config]
max_timeout = 2
[connectors.http.config.destinations]
allow = ["localhost:9"]
allow_loopback = true
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    folder = tmp_path_factory.mktemp("openapi")
    config = folder / "plugins.toml"
    config.write_text(CONFIG + f'[jobs]\nsqlite_path = "{folder / "jobs.sqlite3"}"\n')
    with Daemon(config, TEST_ENV, folder / "daemon.log") as running:
        yield running


@pytest.fixture(scope="module")
def api(daemon: RunningDaemon) -> OpenApiSchema:
    return schemathesis.openapi.from_url(f"{daemon.url}/v1/openapi.json", headers=HEADERS)


def test_every_route_and_command_is_in_the_document(daemon: RunningDaemon, tmp_path: Path) -> None:
    document = requests.get(f"{daemon.url}/v1/openapi.json", headers=HEADERS, timeout=5).json()
    app = client_from(tmp_path, CONFIG).application

    assert document["openapi"] == "3.1.0"
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<path:", "<").replace("<", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {path}"
    assert "/v1/do/http/PostRequest" in document["paths"]
    body = document["paths"]["/v1/do/http/GetRequest"]["post"]["requestBody"]["content"]["application/json"]
    assert "url" in body["schema"]["required"]
    codes = document["paths"]["/v1/do/{connector}/{command}"]["post"]["responses"]["400"]["description"]
    assert "InvalidParameters" in codes and "InvalidRequestBody" in codes


def no_traceback(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every answer is JSON (or the metrics' text) and never shows a Python traceback."""
    assert "Traceback (most recent call last)" not in response.text
    page = case.path in ("/", "/operations") or case.path.startswith("/page/")  # the pages' HTML
    if case.path != "/metrics" and response.status_code != 302 and not page:
        content_type = {k.lower(): v for k, v in response.headers.items()}["content-type"]
        assert content_type[0].startswith("application/json")
    return None


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    no_traceback,
]


def test_every_answer_matches_the_document(api: OpenApiSchema) -> None:
    """Each operation in turn (schemathesis's lazy pytest loader predates pytest 9), examples bounded."""
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) > 15  # the routes and the http connector's commands

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(checks=CHECKS, headers=HEADERS, timeout=10)

        answers_as_documented()
