from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support import TEST_CONFIG, call, client_from


def test_a_completed_call_answers_the_v2_envelope(client: FlaskClient) -> None:
    status, answer = call(client, "sample/Greet", {"name": "Ada", "times": 2, "tags": ["x"]})

    assert status == 200
    assert answer == {
        "command_response": {
            "body": {"greeting": "Hello Ada Hello Ada", "tags": ["x"]},
            "mimetype": "application/json",
            "http_status": 201,
        },
        "error": None,
        "command_response_version": 2,
        "spiff__logs": ["[INFO] greeting Ada"],
    }


def test_host_keys_go_to_the_context_not_the_parameters(client: FlaskClient) -> None:
    status, answer = call(
        client,
        "sample/Context",
        {
            "spiff__process_instance_id": 42,
            "spiff__process_model_identifier": "group/model",
            "spiff__task_id": "5f0c8e1e-0000-4000-8000-000000000000",
            "spiff__task_data": {"invoice": {"total": 12.5}},
            "spiff__callback_url": "http://host.example/callback",
        },
    )
    body = answer["command_response"]["body"]

    assert status == 200
    assert body["task_data"] == {"invoice": {"total": 12.5}}
    assert body["process_instance_id"] == 42
    assert body["process_model_identifier"] == "group/model"
    assert body["task_id"] == "5f0c8e1e-0000-4000-8000-000000000000"
    assert body["callback_url"] == "http://host.example/callback"
    assert body["token_length"] == len("s3cr3t-token-value")
    assert 0 < body["seconds_left"] <= 44


def test_the_hosts_fields_are_read_by_one_rule_a_boolean_is_no_process_instance(client: FlaskClient) -> None:
    fields = {"spiff__process_instance_id": True, "spiff__task_id": 7, "spiff__callback_url": ["x"]}
    status, answer = call(client, "sample/Context", fields)
    body = answer["command_response"]["body"]

    assert status == 200
    assert body["process_instance_id"] is None  # as the log lines and the span read it
    assert body["task_id"] is None and body["callback_url"] is None and body["task_data"] == {}


def test_null_for_an_optional_parameter_means_not_given(client: FlaskClient) -> None:
    status, answer = call(client, "sample/Greet", {"name": "Ada", "times": None, "tags": None})

    assert status == 200
    assert answer["command_response"]["body"]["greeting"] == "Hello Ada"


def test_invalid_parameters_are_all_named_and_never_echoed(client: FlaskClient) -> None:
    payload = {"times": "hunter2-password", "style": "whisper", "colour": "red", "spiff__task_id": "t"}
    status, answer = call(client, "sample/Greet", payload)

    assert status == 400
    assert answer["error"]["error_code"] == "InvalidParameters"
    assert answer["error"]["message"] == (
        "Invalid parameters: colour: is not a parameter of this command; name: is required;"
        " style: must be one of plain or loud; times: must be of type integer"
    )
    assert [d["field"] for d in answer["error"]["details"]] == ["colour", "name", "style", "times"]
    assert "hunter2" not in json.dumps(answer)
    assert answer["command_response"]["http_status"] == 400


def test_nested_fields_are_named_by_path(client: FlaskClient) -> None:
    status, answer = call(client, "sample/Greet", {"name": "Ada", "tags": ["ok", 7]})

    assert status == 400
    assert answer["error"]["message"] == "Invalid parameters: tags.1: must be of type string"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1, 2]", "The body must be a JSON object"),
        (b"{nope", "The body is not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(client: FlaskClient, data: bytes, message: str) -> None:
    response = client.post("/v1/do/sample/Greet", data=data, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["error_code"] == "InvalidRequestBody"
    assert message in response.get_json()["error"]["message"]


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    client = client_from(tmp_path, "[limits]\nmax_body_bytes = 2048\n" + TEST_CONFIG)
    status, answer = call(client, "sample/Greet", {"name": "x" * 4096})

    assert status == 413
    assert answer["error"] == {
        "error_code": "PayloadTooLarge",
        "message": "The body is over the 2048 bytes allowed",
    }


def test_an_unknown_command_is_command_not_found(client: FlaskClient) -> None:
    for command in ("sample/Nope", "nobody/Greet"):
        status, answer = call(client, command, {})
        assert status == 404
        assert answer["error"]["error_code"] == "command_not_found"
        assert command in answer["error"]["message"]


def test_a_command_of_a_connector_left_out_is_unavailable_not_unknown(client: FlaskClient) -> None:
    """The broken connector is installed but fails to import: the host should retry, not give up."""
    status, answer = call(client, "broken/Anything", {})

    assert status == 503 and answer["error"]["error_code"] == "ConnectorUnavailable"
    assert answer["error"]["message"] == (
        "broken/Anything: connector 'broken' is left out (import_error); GET /v1/connectors says why"
    )


def test_a_command_error_completes_the_call_with_the_error_set(client: FlaskClient) -> None:
    status, answer = call(client, "sample/Greet", {"name": "Mallory"})

    assert status == 200
    assert answer["error"] == {"error_code": "NotWelcome", "message": "Mallory is not welcome"}
    assert answer["command_response"]["http_status"] == 422
    assert answer["command_response"]["body"] == {"name": "Mallory"}


def test_an_escaping_exception_is_a_500_envelope_with_the_traceback_only_in_the_log(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        status, answer = call(client, "sample/Crash", {})

    assert status == 500
    # a declared code; the exception's text (which may hold a secret) stays in the log
    assert answer["error"] == {
        "error_code": "CommandCrashed",
        "message": "sample/Crash failed unexpectedly (KeyError); see the log",
    }
    assert "crashed on purpose" in caplog.text
    assert answer["command_response"]["http_status"] == 500
    assert "Traceback" not in json.dumps(answer)
    assert any(record.exc_info for record in caplog.records)


def test_an_undeclared_code_still_answers_and_warns(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    status, answer = call(client, "sample/Forgetful", {})

    assert status == 200
    assert answer["error"]["error_code"] == "Undeclared"
    assert "sample/Forgetful raised undeclared error code Undeclared" in caplog.text


def test_a_call_looks_its_command_up_once(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector_proxy.calls.registry import Registry

    looked_up: list[str] = []
    find = Registry.find

    def counted(self: Registry, command_id: str) -> Any:
        looked_up.append(command_id)
        return find(self, command_id)

    monkeypatch.setattr(Registry, "find", counted)
    status, _ = call(client, "sample/Greet", {"name": "Ada"})

    assert status == 200
    assert looked_up == ["sample/Greet"]  # the Call carries it: jobs, relay, executor read it there
