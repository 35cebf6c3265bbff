from __future__ import annotations

from flask.testing import FlaskClient


def test_liveness_answers_on_both_paths(client: FlaskClient) -> None:
    for path in ("/liveness", "/v1/liveness"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.get_json() == {"ok": True}


def test_commands_use_the_hosts_list_shape(client: FlaskClient) -> None:
    response = client.get("/v1/commands")
    commands = {entry["id"]: entry for entry in response.get_json()}

    assert response.status_code == 200
    for entry in commands.values():
        assert entry["id"].count("/") == 1
        for parameter in entry["parameters"]:
            assert parameter["type"] in {"str", "int", "bool", "any"}
            assert isinstance(parameter["required"], bool)
    for alias in ("GetRequestV2", "PostRequestV2", "PutRequestV2", "PatchRequestV2", "DeleteRequestV2"):
        assert f"http/{alias}" in commands
    greet = {p["id"]: p for p in commands["sample/Greet"]["parameters"]}
    assert greet["name"] == {
        "id": "name",
        "type": "str",
        "required": True,
        "description": "Who to greet.",
        "schema": {"type": "string", "description": "Who to greet."},
    }
    assert greet["times"]["type"] == "int"
    assert greet["times"]["default"] == 1


def test_commands_advertise_their_error_codes(client: FlaskClient) -> None:
    commands = {entry["id"]: entry for entry in client.get("/v1/commands").get_json()}

    codes = {error["error_code"]: error for error in commands["http/GetRequest"]["errors"]}
    assert codes["Timeout"] == {
        "error_code": "Timeout",
        "description": codes["Timeout"]["description"],
        "http_status": 504,
        "transient": True,
    }
    assert codes["DestinationBlocked"]["transient"] is False
    assert codes["HttpError<status>"]["transient"] is None
    assert [e["error_code"] for e in commands["sample/Greet"]["errors"]] == ["NotWelcome"]


def test_one_command_described_in_full(client: FlaskClient) -> None:
    response = client.get("/v1/commands/sample/Hello")
    described = response.get_json()

    assert response.status_code == 200
    assert described["alias_of"] == "sample/Greet"
    assert described["aliases"] == ["sample/Hello"]
    assert described["connector"] == "sample"
    assert described["parameters_schema"]["required"] == ["name"]


def test_an_unknown_command_description_is_the_envelope(client: FlaskClient) -> None:
    response = client.get("/v1/commands/sample/Nope")

    assert response.status_code == 404
    assert response.get_json()["error"]["error_code"] == "command_not_found"


def test_connectors_show_every_state(client: FlaskClient) -> None:
    connectors = {entry["name"]: entry for entry in client.get("/v1/connectors").get_json()}

    assert connectors["sample"]["state"] == "ready"
    assert connectors["sample"]["version"] == "1.2.3"
    assert connectors["sample"]["config_schema"]["properties"]["token"]["secret"] is True
    assert connectors["sample"]["config"]["token"] == "********"
    assert connectors["broken"]["state"] == "import_error"
    assert connectors["http"]["description"].startswith("Send HTTP requests")


def test_unknown_routes_and_methods_answer_json(client: FlaskClient) -> None:
    missing = client.get("/v1/nothing-here")
    wrong_method = client.get("/v1/do/sample/Greet")

    assert missing.status_code == 404
    assert missing.get_json()["error"] == {
        "error_code": "NotFound",
        "message": "No endpoint GET /v1/nothing-here",
    }
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"] == {
        "error_code": "MethodNotAllowed",
        "message": "/v1/do/sample/Greet does not answer GET",
    }
