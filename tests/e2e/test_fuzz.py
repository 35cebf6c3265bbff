"""A bounded fuzz run over ``/v1/do`` for every built-in command, through the real daemon.

Parameters are drawn from each command's own schema, mixed with hostile
values (NUL bytes, lone surrogates, huge and fractional numbers, deep and
wrong-typed JSON) and unknown keys. Whatever arrives, the proxy never answers
5xx itself, always JSON, never a traceback. Nothing leaves 127.0.0.1: the
http connector may reach only ``localhost:9`` (refused), the aws connector a
local server that answers 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from connector_proxy.testing import RunningDaemon

BUILT_IN = ("http/", "aws/", "os/")
NASTY_TEXT = ["", "\x00", "\ud800", "a\r\nb", "..", "/etc/passwd", "-rf", "%00", "\u202e", "x" * 5000]
NASTY_NUMBERS = [0, -1, 2.0, 0.5, 10**300, -(10**300), 1e308, 2**63, 99999]


@pytest.fixture(scope="module")
def aws_endpoint() -> Iterator[str]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile(".*")).respond_with_data(
        "<Error><Code>InvalidRequest</Code><Message>fuzzed</Message></Error>", status=400
    )
    server.start()
    yield server.url_for("/")
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Iterator[RunningDaemon]:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "root").mkdir()
    config = folder / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "error"\n[limits]\ncommand_timeout = 5\n'
        '[jobs]\nsqlite_path = "%s"\n'
        % (folder / "jobs.sqlite3")
        + '[connectors.http.config.destinations]\nallow = ["localhost:9"]\nallow_loopback = true\n'
        + f'[connectors.aws.config]\nendpoint_url = "{aws_endpoint}"\nregion = "us-east-1"\n'
        + f'[connectors.os.config]\nroots = ["{folder / "root"}"]\ntimeout = 2\n'
        + '[connectors.os.config.programs.echo]\nargs = ["[a-z]+", {type = "path"}]\n'
    )
    environ = {"AWS_ACCESS_KEY_ID": "fuzz", "AWS_SECRET_ACCESS_KEY": "fuzz"}
    with RunningDaemon(config, environ) as running:
        yield running


def built_in_commands() -> list[str]:
    """The ids the catalog of a default daemon lists, read from the registry without a server."""
    from connector_proxy.calls.discovery import discover
    from connector_proxy.config import Settings

    registry = discover(Settings()).registry
    return sorted(
        entry["id"]
        for entry in json.loads(registry.catalog_json)
        if entry["id"].startswith(BUILT_IN) and not entry.get("alias_of")
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(NASTY_TEXT),
        st.sampled_from(NASTY_NUMBERS),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )


def typed(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value of the parameter's declared kind (often right), to get past validation and into the command."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return st.one_of(
            st.text(max_size=30), st.sampled_from(NASTY_TEXT), st.just("http://localhost:9/x?q=1")
        )
    if kind == "integer":
        return st.one_of(st.integers(-5, 100), st.sampled_from(NASTY_NUMBERS))
    if kind == "number":
        return st.one_of(st.floats(-5, 100), st.sampled_from(NASTY_NUMBERS))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(typed(schema.get("items", {})), max_size=4)
    if kind == "object":
        return st.dictionaries(st.sampled_from(["a", "X-Key", "", "\x00", "b c"]), json_values(), max_size=3)
    return json_values()


@st.composite
def calls(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    payload: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []:
        payload[name] = draw(st.one_of(typed(properties[name]), json_values()))
    for name in schema.get("required", []):  # mostly present, so commands run
        if name not in payload and draw(st.integers(0, 4)):
            payload[name] = draw(typed(properties.get(name, {})))
    if draw(st.integers(0, 9)) == 0:
        payload[draw(st.text(max_size=10))] = draw(json_values())
    return payload


@pytest.mark.parametrize("command", built_in_commands())
def test_no_parameter_makes_the_proxy_fail(daemon: RunningDaemon, command: str) -> None:
    schema = requests.get(f"{daemon.url}/v1/commands/{command}", timeout=10).json()["parameters_schema"]

    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,  # the same examples in every run: a failure in CI is reproducible
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(payload=calls(schema))
    def answers_cleanly(payload: dict[str, Any]) -> None:
        answer = requests.post(f"{daemon.url}/v1/do/{command}", json=payload, timeout=30)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.status_code < 500, (payload, answer.text[:500])
        assert "Traceback" not in answer.text
        assert answer.json()["command_response_version"] == 2

    answers_cleanly()
