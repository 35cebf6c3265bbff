"""Every answer a SpiffWorkflow host can get, checked against its published protocol (2026-09, as
summarised in the shared HOST_CONTRACT.md), through the real daemon under gunicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.web.auth import HEADER
from tests.support import TEST_CONFIG, TEST_ENV, Daemon

KEY = "protocol-key-5d1e"
CONFIG = '[auth]\napi_keys = ["env:PROTOCOL_KEY"]\n' + TEST_CONFIG
TYPES = {"str", "int", "bool", "any"}  # what the host's editor knows


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("protocol")
    (folder / "plugins.toml").write_text(CONFIG)
    with Daemon(folder / "plugins.toml", {**TEST_ENV, "PROTOCOL_KEY": KEY}, folder / "daemon.log") as running:
        yield running


def do(daemon: Daemon, command: str, payload: dict[str, Any], **headers: str) -> requests.Response:
    """As the host calls: its spiff__ keys, its key header, its 45 s."""
    body = {
        "spiff__process_instance_id": 7,
        "spiff__process_model_identifier": "group/model",
        "spiff__task_id": "0f8b6a8e-5a59-4d3f-9a38-0d2f4f7f0c11",
        "spiff__task_data": {"a": 1},
        "spiff__callback_url": None,
        **payload,
    }
    return requests.post(
        f"{daemon.url}/v1/do/{command}", json=body, headers={HEADER: KEY, **headers}, timeout=45
    )


def assert_envelope(document: Any, error: bool) -> None:
    """The v2 envelope: command_response with body, mimetype, http_status; error null or a code and
    message; version 2; spiff__logs a list of strings."""
    assert set(document) >= {"command_response", "error", "command_response_version", "spiff__logs"}
    response = document["command_response"]
    assert "body" in response and isinstance(response["mimetype"], str)
    assert isinstance(response["http_status"], int) and document["command_response_version"] == 2
    assert isinstance(document["spiff__logs"], list) and all(
        isinstance(s, str) for s in document["spiff__logs"]
    )
    if error:
        assert isinstance(document["error"]["error_code"], str) and isinstance(
            document["error"]["message"], str
        )
    else:
        assert document["error"] is None


def test_discovery_is_a_list_of_one_slash_ids_with_the_editors_types(daemon: Daemon) -> None:
    answer = requests.get(f"{daemon.url}/v1/commands", headers={HEADER: KEY}, timeout=10)

    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    for command in answer.json():
        assert command["id"].count("/") == 1 and all(command["id"].split("/"))
        assert all(p["type"] in TYPES and isinstance(p["required"], bool) for p in command["parameters"])


def test_a_completed_call_is_200_with_the_envelope(daemon: Daemon) -> None:
    answer = do(daemon, "sample/Greet", {"name": "Ada"})

    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert_envelope(answer.json(), error=False)


def test_an_upstream_failure_is_200_with_the_error_and_the_upstream_status(
    daemon: Daemon, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/missing").respond_with_json({"why": "gone"}, status=404)
    answer = do(daemon, "http/GetRequestV2", {"url": httpserver.url_for("/missing")})

    assert answer.status_code == 200
    assert_envelope(answer.json(), error=True)
    assert answer.json()["command_response"]["http_status"] == 404  # truthful: the host's retries rely on it


def test_an_undispatchable_call_is_404_with_the_envelope(daemon: Daemon) -> None:
    answer = do(daemon, "nobody/Nothing", {})

    assert answer.status_code == 404
    assert_envelope(answer.json(), error=True)


def test_a_refused_call_is_4xx_with_the_envelope(daemon: Daemon) -> None:
    answer = do(daemon, "sample/Greet", {"name": 42})

    assert answer.status_code == 400
    assert_envelope(answer.json(), error=True)


def test_a_401_is_an_object_whose_error_is_a_string(daemon: Daemon) -> None:
    for path in ("/v1/commands", "/v1/auths", "/v1/do/sample/Greet"):
        answer = requests.post(f"{daemon.url}{path}", json={}, headers={HEADER: "wrong"}, timeout=10)
        if answer.status_code == 405:  # GET-only routes: ask as the host does
            answer = requests.get(f"{daemon.url}{path}", headers={HEADER: "wrong"}, timeout=10)

        assert answer.status_code == 401 and isinstance(answer.json()["error"], str)


def test_an_accepted_call_is_202_then_its_callback_body_has_command_response_body(daemon: Daemon) -> None:
    receiver = CallbackReceiver()
    try:
        accepted = do(
            daemon,
            "sample/Greet",
            {"name": "Ada", "spiff__callback_url": f"{receiver.url}/t/1"},
            Prefer="respond-async",
        )
        [(path, body)] = receiver.wait_for(1)
    finally:
        receiver.close()

    assert accepted.status_code == 202
    assert_envelope(accepted.json(), error=False)
    assert path == "/t/1"
    assert_envelope(body, error=False)
    assert json.dumps(body["command_response"]["body"])  # required: the host refuses a callback without it
