"""Connectors built from real public OpenAPI documents, through the real daemon under gunicorn,
calling a local server that implements a few of their operations."""

from __future__ import annotations

import base64
import json
import lzma
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.sdk.testing import SilentServer, free_port
from connector_proxy.testing import RunningDaemon

DOCUMENTS = Path(__file__).parent / "documents"
PET = {"id": 7, "name": "Rex", "tag": "dog"}


def config(upstream: str, dead: str) -> str:
    return f"""
[server]
log_level = "warning"
[discovery]
enable_unlisted = false
[connectors.pets]
openapi = "petstore-3.0.yaml"
[connectors.pets.config]
base_url = "{upstream}/v1"
[connectors.legacy]
openapi = "petstore-separate/spec/swagger.json"
[connectors.legacy.config]
base_url = "{upstream}/api"
auth = {{ bearer = "env:LEGACY_TOKEN" }}
[connectors.museum]
openapi = "museum-3.1.yaml"
[connectors.museum.config]
base_url = "{upstream}/museum"
auth = {{ MuseumPlaceholderAuth = {{ username = "curator", password = "env:MUSEUM_PASSWORD" }} }}
include = {{ tags = ["Events", "Operations"] }}
exclude = {{ operations = ["deleteSpecialEvent"] }}
[connectors.elsewhere]
openapi = "petstore-3.0.yaml"
[connectors.github]
openapi = "api.github.com.json"
[connectors.github.config]
base_url = "{upstream}/github"
auth = {{ bearer = "env:GITHUB_TOKEN" }}
[connectors.keyed]
openapi = "keyed.yaml"
[connectors.keyed.config]
base_url = "{upstream}/keyed"
auth = {{ header_key = "env:HEADER_KEY", query_key = "env:QUERY_KEY", cookie_key = "env:COOKIE_KEY" }}
[connectors.remote]
openapi = "{upstream}/documents/petstore.yaml"
[connectors.huge]
openapi = "huge.json"
[connectors.schemaloop]
openapi = "schemaloop.yaml"
[connectors.headed]
openapi = "headed.yaml"
[connectors.headed.config]
base_url = "{upstream}/keyed/headed"
auth = {{ bearer = "env:LEGACY_TOKEN" }}
[connectors.forms]
openapi = "forms.yaml"
[connectors.forms.config]
base_url = "{upstream}/forms"
[connectors.malformed]
openapi = "malformed.yaml"
[connectors.invalid]
openapi = "invalid.yaml"
[connectors.loop]
openapi = "loop.yaml"
[connectors.outside]
openapi = "outside.yaml"
[connectors.dead]
openapi = "{dead}/openapi.json?token=dead-s3cret"
[connectors.notfound]
openapi = "{upstream}/documents/gone.json?token=gone-s3cret"
"""


# API keys in a header, a query and a cookie; the second alternative asks for one not configured
KEYED = """
openapi: 3.1.0
info: {title: keyed, version: '1'}
security: [{header_key: [], query_key: []}]
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses: {'200': {description: ok}}
  /cookies:
    get:
      operationId: byCookie
      security: [{unknown: []}, {cookie_key: []}]
      responses: {'200': {description: ok}}
components:
  securitySchemes:
    header_key: {type: apiKey, in: header, name: X-Api-Key}
    query_key: {type: apiKey, in: query, name: key}
    cookie_key: {type: apiKey, in: cookie, name: session}
    unknown: {type: apiKey, in: header, name: X-Other}
"""

# header parameters OpenAPI says to ignore, and the transport's: none may be a command's parameter
HEADED = """
openapi: 3.0.3
info: {title: headed, version: '1'}
security: [{token: []}]
paths:
  /things:
    get:
      operationId: getThings
      parameters:
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: Host, in: header, schema: {type: string}}
        - {name: authorization, in: header, schema: {type: string}}
        - {name: Accept, in: header, schema: {type: string}}
        - {name: Content-Type, in: header, schema: {type: string}}
        - {name: Content-Length, in: header, schema: {type: string}}
        - {name: Transfer-Encoding, in: header, schema: {type: string}}
        - {name: Connection, in: header, schema: {type: string}}
      responses: {'200': {description: ok}}
components:
  securitySchemes:
    token: {type: http, scheme: bearer}
"""

# Swagger 2.0's formData: a form, and multipart where the operation consumes it
FORMS = """
swagger: '2.0'
info: {title: forms, version: '1'}
paths:
  /pets/{id}:
    post:
      operationId: updatePetWithForm
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: id, in: path, required: true, type: integer}
        - {name: name, in: formData, type: string, required: true}
        - {name: tags, in: formData, type: array, items: {type: string}}
      responses: {'200': {description: ok}}
  /pets/{id}/notes:
    post:
      operationId: addNote
      consumes: [multipart/form-data]
      parameters:
        - {name: id, in: path, required: true, type: integer}
        - {name: note, in: formData, type: string}
      responses: {'200': {description: ok}}
"""

BROKEN = {
    "malformed.yaml": "openapi: 3.0.0\ninfo: [unclosed\n",
    "invalid.yaml": "openapi: 3.0.0\ninfo:\n  title: no version\npaths: {}\n",
    "loop.yaml": (
        "openapi: 3.0.0\ninfo: {title: loop, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      parameters: [{$ref: '#/components/parameters/A'}]\n"
        "      responses: {'200': {description: ok}}\n"
        "components:\n  parameters:\n    A: {$ref: '#/components/parameters/B'}\n"
        "    B: {$ref: '#/components/parameters/A'}\n"
    ),
    "schemaloop.yaml": (
        "openapi: 3.1.0\ninfo: {title: loop, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses: {'200': {description: ok, content: {application/json: {schema:"
        " {$ref: '#/components/schemas/A'}}}}}\n"
        "components:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n"
        "    B: {$ref: '#/components/schemas/A'}\n"
    ),
    "outside.yaml": (
        "openapi: 3.0.0\ninfo: {title: outside, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses: {'200': {description: ok, content: {application/json: {schema:"
        " {$ref: '../../etc/passwd'}}}}}\n"
    ),
}


def upstream_handler(seen: list[Request]) -> Any:
    def handle(request: Request) -> Response:
        seen.append(request)
        route = (request.method, request.path)
        if route == ("GET", "/v1/pets"):
            return Response(
                json.dumps([PET] * int(request.args.get("limit", 1))), 200, mimetype="application/json"
            )
        if route == ("GET", "/v1/pets/9"):  # elsewhere on this host: another origin
            return Response("", 302, headers={"Location": f"http://127.0.0.1:{free_port()}/v1/pets/7"})
        if route == ("GET", "/v1/pets/7"):
            return Response(json.dumps(PET), 200, mimetype="application/json")
        if route == ("POST", "/api/pets"):
            return Response(json.dumps({**request.get_json(), "id": 8}), 200, mimetype="application/json")
        if request.path.startswith("/museum/special-events/"):
            return Response(
                json.dumps({"type": "about:blank", "title": "no such event"}),
                404,
                mimetype="application/problem+json",
            )
        if route == ("POST", "/github/repos/octo/cat/issues"):
            issue = {
                "number": 1,
                "title": request.get_json()["title"],
                "labels": request.get_json()["labels"],
            }
            return Response(json.dumps(issue), 201, mimetype="application/json")
        if route == ("GET", "/documents/petstore.yaml"):
            return Response((DOCUMENTS / "petstore-3.0.yaml").read_bytes(), 200, mimetype="application/yaml")
        if request.path.startswith(("/keyed/", "/forms/")):
            return Response("{}", 200, mimetype="application/json")
        if request.path.startswith("/github/"):
            return Response(json.dumps({"message": "Not Found"}), 404, mimetype="application/json")
        if route == ("GET", "/museum/museum-hours"):
            return Response(
                json.dumps([{"date": "2024-01-01", "timeOpen": "09:00", "timeClose": "18:00"}]),
                200,
                mimetype="application/json",
            )
        return Response("{}", 500, mimetype="application/json")

    return handle


@pytest.fixture(scope="module")
def seen() -> list[Request]:
    return []


@pytest.fixture(scope="module")
def upstream(seen: list[Request]) -> Iterator[str]:
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("").respond_with_handler(upstream_handler(seen))
    server.start()
    try:
        yield server.url_for("").rstrip("/")
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[RunningDaemon]:
    folder = tmp_path_factory.mktemp("openapi") / "config"
    shutil.copytree(DOCUMENTS, folder)
    for name, text in BROKEN.items():
        (folder / name).write_text(text)
    (folder / "keyed.yaml").write_text(KEYED)
    (folder / "forms.yaml").write_text(FORMS)
    (folder / "headed.yaml").write_text(HEADED)
    with (folder / "huge.json").open("wb") as huge:  # sparse: over the limit without using the disk
        huge.truncate(65 * 1024 * 1024)
    github = DOCUMENTS / "api.github.com.json.xz"  # GitHub's public description, 13 MB, 1,223 operations
    (folder / "api.github.com.json").write_bytes(lzma.decompress(github.read_bytes()))
    path = folder / "plugins.toml"
    with SilentServer() as dead:
        path.write_text(config(upstream, dead.url))
        environ = {
            "LEGACY_TOKEN": "legacy-token-value",
            "MUSEUM_PASSWORD": "museum-password-value",
            "GITHUB_TOKEN": "github-token-value",
            "HEADER_KEY": "header-key-value",
            "QUERY_KEY": "query-key-value",
            "COOKIE_KEY": "cookie-key-value",
        }
        running = RunningDaemon(path, environ)
        try:
            running.wait_ready(60)  # the dead document's URL is given up on after URL_SECONDS
            yield running
        finally:
            running.stop()


def do(daemon: RunningDaemon, command: str, **parameters: Any) -> dict[str, Any]:
    answer = requests.post(f"{daemon.url}/v1/do/{command}", json=parameters, timeout=30)
    assert answer.headers["Content-Type"].startswith("application/json")
    document: dict[str, Any] = answer.json()
    return document


def test_every_operation_is_a_command_named_by_its_operation_id(daemon: RunningDaemon) -> None:
    listed = {entry["id"]: entry for entry in requests.get(f"{daemon.url}/v1/commands", timeout=10).json()}
    assert {"pets/listPets", "pets/createPets", "pets/showPetById"} <= set(listed)
    assert {"legacy/findPets", "legacy/addPet", "legacy/find_pet_by_id", "legacy/deletePet"} <= set(listed)
    museum = {name for name in listed if name.startswith("museum/")}
    assert museum == {"museum/getMuseumHours", "museum/listSpecialEvents", "museum/createSpecialEvent",
                      "museum/getSpecialEvent", "museum/updateSpecialEvent"}  # fmt: skip
    shown = listed["pets/showPetById"]
    assert "GET /pets/{petId} (operationId showPetById)" in shown["description"]
    assert shown["operation"] == {"method": "GET", "path": "/pets/{petId}", "operationId": "showPetById"}
    assert [(p["id"], p["required"], p["schema"]["x-in"]) for p in shown["parameters"]] == [
        ("petId", True, "path")
    ]
    assert shown["output_schema"]["$ref"] == "#/$defs/components.schemas.Pet"
    assert "HttpError404" in {code["error_code"] for code in listed["museum/getSpecialEvent"]["errors"]}


def test_a_call_reaches_the_operations_path_with_its_parameters(
    daemon: RunningDaemon, seen: list[Request]
) -> None:
    answer = do(daemon, "pets/listPets", limit=2)
    assert answer["error"] is None, answer
    assert answer["command_response"]["body"] == [PET, PET]
    assert seen[-1].path == "/v1/pets" and seen[-1].args["limit"] == "2"
    assert do(daemon, "pets/showPetById", petId="7")["command_response"]["body"] == PET


def test_parameters_are_validated_before_anything_is_sent(daemon: RunningDaemon, seen: list[Request]) -> None:
    before = len(seen)
    answer = do(daemon, "pets/listPets", limit="many")
    assert answer["error"]["error_code"] == "InvalidParameters"
    assert "limit" in answer["error"]["message"]
    assert do(daemon, "pets/showPetById")["error"]["error_code"] == "InvalidParameters"
    assert len(seen) == before


def test_a_swagger_2_body_with_refs_to_other_files_is_sent_as_json(
    daemon: RunningDaemon, seen: list[Request]
) -> None:
    answer = do(daemon, "legacy/addPet", body={"name": "Tom", "id": 1})
    assert answer["command_response"]["body"] == {"name": "Tom", "id": 8}
    assert seen[-1].get_json() == {"name": "Tom", "id": 1}
    assert seen[-1].headers["Authorization"] == "Bearer legacy-token-value"


def test_a_documented_404_is_a_declared_error_carrying_the_upstreams_body(
    daemon: RunningDaemon, seen: list[Request]
) -> None:
    event = "dad4bce8-f5cb-4078-a211-995864315e39"
    answer = do(daemon, "museum/getSpecialEvent", eventId=event)
    assert answer["error"]["error_code"] == "HttpError404"
    assert answer["command_response"]["http_status"] == 404
    assert answer["command_response"]["body"]["title"] == "no such event"
    assert seen[-1].path == f"/museum/special-events/{event}"
    username, password = base64.b64decode(seen[-1].headers["Authorization"].split()[1]).decode().split(":")
    assert (username, password) == ("curator", "museum-password-value")


def test_a_path_parameter_cannot_leave_its_segment(daemon: RunningDaemon, seen: list[Request]) -> None:
    do(daemon, "museum/getSpecialEvent", eventId="../../v1/pets/7")
    assert seen[-1].path.startswith("/museum/special-events/")


def test_a_document_is_read_from_a_url(daemon: RunningDaemon) -> None:
    listed = {entry["id"] for entry in requests.get(f"{daemon.url}/v1/commands", timeout=10).json()}
    assert {"remote/listPets", "remote/createPets", "remote/showPetById"} <= listed


def test_the_base_urls_origin_is_the_only_destination(daemon: RunningDaemon) -> None:
    answer = do(daemon, "pets/showPetById", petId="9")
    assert answer["error"]["error_code"] == "DestinationBlocked"
    assert "not on the allow list" in answer["error"]["message"]


def test_the_default_server_is_the_documents(daemon: RunningDaemon) -> None:
    """elsewhere has no base_url: its document's server, petstore.swagger.io, is all it may reach."""
    connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=10).json()}
    assert connectors["elsewhere"]["state"] == "ready"
    assert connectors["elsewhere"]["config"]["base_url"] == "http://petstore.swagger.io/v1"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("malformed", "not JSON or YAML"),
        ("invalid", "not a valid OpenAPI 3.0 document"),
        ("loop", "$ref loop"),
        ("outside", "outside the folder"),
        ("dead", "did not arrive"),
        ("huge", "over the 67108864 a document may have"),
        ("schemaloop", "$ref loop"),
        ("notfound", "the document's URL answered 500"),
    ],
)
def test_a_document_that_does_not_build_leaves_its_connector_out(
    daemon: RunningDaemon, name: str, reason: str
) -> None:
    connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=10).json()}
    assert connectors[name]["state"] == "build_error"
    assert reason in connectors[name]["detail"]
    assert "s3cret" not in json.dumps(connectors[name])


def test_inspect_lists_what_a_document_would_give() -> None:
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector_proxy",
            "openapi",
            "inspect",
            "--json",
            "--name",
            "legacy",
            "swagger.json",
        ],
        cwd=DOCUMENTS / "petstore-separate" / "spec",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    entries = {entry["id"]: entry for entry in json.loads(shown.stdout)}
    assert entries["legacy/deletePet"]["operation"] == "DELETE /pets/{id}"
    assert entries["legacy/deletePet"]["required"] == ["id"]


def test_inspect_says_why_a_document_does_not_build(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text(BROKEN["loop.yaml"])
    shown = subprocess.run(
        [sys.executable, "-m", "connector_proxy", "openapi", "inspect", "loop.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 1
    assert "$ref loop" in shown.stderr and "Traceback" not in shown.stderr


def test_githubs_whole_description_serves(daemon: RunningDaemon, seen: list[Request]) -> None:
    listed = requests.get(f"{daemon.url}/v1/commands", timeout=30).json()
    assert sum(entry["id"].startswith("github/") for entry in listed) == 1223
    answer = do(daemon, "github/issues.create", owner="octo", repo="cat", title="Hi", labels=["bug"])
    assert answer["command_response"]["body"] == {"number": 1, "title": "Hi", "labels": ["bug"]}
    assert seen[-1].headers["Authorization"] == "Bearer github-token-value"
    missing = do(daemon, "github/repos.get", owner="octo", repo="dog")
    assert missing["error"]["error_code"] == "HttpError404"
    assert missing["command_response"]["body"] == {"message": "Not Found"}
    described = requests.get(f"{daemon.url}/v1/commands/github/repos.get", timeout=30).json()
    assert described["operation"] == {
        "method": "GET",
        "path": "/repos/{owner}/{repo}",
        "operationId": "repos/get",
    }
    assert "components.schemas.full-repository" in described["output_schema"]["$defs"]


def test_a_reload_reads_a_changed_document_again(tmp_path: Path) -> None:
    document = tmp_path / "petstore.yaml"
    document.write_text((DOCUMENTS / "petstore-3.0.yaml").read_text())
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "warning"\n[discovery]\nenable_unlisted = false\n'
        '[connectors.pets]\nopenapi = "petstore.yaml"\n[connectors.pets.config]\nbase_url = "http://127.0.0.1:9"\n'
    )
    with RunningDaemon(config) as daemon:
        assert "pets/listPets" in commands(daemon)
        document.write_text(document.read_text().replace("operationId: listPets", "operationId: pets/list"))
        os.kill(daemon.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        # the old workers answer until they have stopped: the new ones have the new command only
        while {"pets/pets.list", "pets/createPets"} != commands(daemon) - {"pets/showPetById"}:
            assert time.monotonic() < deadline, "the changed document was never read again"
            time.sleep(0.1)


def commands(daemon: RunningDaemon) -> set[str]:
    return {entry["id"] for entry in requests.get(f"{daemon.url}/v1/commands", timeout=10).json()}


def test_api_keys_travel_where_the_document_says(daemon: RunningDaemon, seen: list[Request]) -> None:
    assert do(daemon, "keyed/getThing", id=5, **{"X-Trace": "t1"})["error"] is None
    assert seen[-1].path == "/keyed/things/5"
    assert seen[-1].headers["X-Trace"] == "t1"
    assert seen[-1].headers["X-Api-Key"] == "header-key-value"
    assert seen[-1].args["key"] == "query-key-value"
    assert "session" not in seen[-1].cookies
    assert do(daemon, "keyed/byCookie")["error"] is None
    assert seen[-1].cookies["session"] == "cookie-key-value"
    assert "X-Api-Key" not in seen[-1].headers and "X-Other" not in seen[-1].headers


def test_validate_checks_models_against_the_documents_commands(tmp_path: Path) -> None:
    """museum-404.bpmn ran on the real SpiffWorkflow backend: museum/getSpecialEvent answered 404 and
    its HttpError404 boundary event caught it."""
    shutil.copy(DOCUMENTS / "museum-3.1.yaml", tmp_path)
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[discovery]\nenable_unlisted = false\n[connectors.museum]\nopenapi = "museum-3.1.yaml"\n'
        '[connectors.museum.config]\nbase_url = "http://127.0.0.1:9"\n'
    )
    model = (Path(__file__).parent / "museum-404.bpmn").read_text()
    (tmp_path / "good.bpmn").write_text(model)
    (tmp_path / "bad.bpmn").write_text(model.replace('parameter id="eventId"', 'parameter id="eventID"'))

    def validate(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connector_proxy", "validate", "--config", str(config), name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert validate("good.bpmn").returncode == 0
    bad = validate("bad.bpmn")
    assert bad.returncode == 1
    assert "eventID" in bad.stdout + bad.stderr


def test_bodies_go_as_the_operation_declares(daemon: RunningDaemon, seen: list[Request]) -> None:
    assert do(daemon, "forms/updatePetWithForm", id=3, name="Rex", tags=["a", "b"])["error"] is None
    assert seen[-1].path == "/forms/pets/3"
    assert seen[-1].mimetype == "application/x-www-form-urlencoded"
    assert seen[-1].form.to_dict(flat=False) == {"name": ["Rex"], "tags": ["a", "b"]}
    assert do(daemon, "forms/addNote", id=3, note="hello")["error"] is None
    assert seen[-1].mimetype == "multipart/form-data"
    assert seen[-1].form["note"] == "hello"


def test_an_isolated_connector_is_built_in_its_worker(
    tmp_path: Path, upstream: str, seen: list[Request]
) -> None:
    shutil.copy(DOCUMENTS / "petstore-3.0.yaml", tmp_path)
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "warning"\n[discovery]\nenable_unlisted = false\n'
        f'[connectors.pets]\nopenapi = "petstore-3.0.yaml"\npython = "{sys.executable}"\nworkers = 1\n'
        f'[connectors.pets.config]\nbase_url = "{upstream}/v1"\n'
        'include = { operations = ["showPetById"] }\n'
    )
    with RunningDaemon(config) as daemon:
        connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=10).json()}
        assert connectors["pets"]["mode"] == "isolated" and connectors["pets"]["state"] == "ready"
        assert commands(daemon) == {"pets/showPetById"}  # the table's include, read by the worker
        assert do(daemon, "pets/showPetById", petId="7")["command_response"]["body"] == PET
        assert seen[-1].path == "/v1/pets/7"


def test_a_header_parameter_cannot_split_the_request(daemon: RunningDaemon, seen: list[Request]) -> None:
    before = len(seen)
    answer = do(daemon, "keyed/getThing", id=5, **{"X-Trace": "t1\r\nX-Injected: 1"})
    assert answer["error"]["error_code"] == "InvalidParameters"
    assert (
        "X-Trace" in answer["error"]["message"] and "Latin-1 text on one line" in answer["error"]["message"]
    )
    assert len(seen) == before


def test_transport_and_credential_headers_are_never_parameters(
    daemon: RunningDaemon, seen: list[Request]
) -> None:
    listed = {entry["id"]: entry for entry in requests.get(f"{daemon.url}/v1/commands", timeout=10).json()}
    assert [p["id"] for p in listed["headed/getThings"]["parameters"]] == ["X-Trace"]
    before = len(seen)
    for name, value in [("Host", "evil.example"), ("Authorization", "Bearer mine"), ("Connection", "close")]:
        answer = requests.post(f"{daemon.url}/v1/do/headed/getThings", json={name: value}, timeout=30)
        assert answer.status_code == 400 and answer.json()["error"]["error_code"] == "InvalidParameters"
        assert name in answer.json()["error"]["message"]
    assert len(seen) == before  # refused before anything was sent
    assert do(daemon, "headed/getThings", **{"X-Trace": "t1"})["error"] is None
    assert seen[-1].path == "/keyed/headed/things" and seen[-1].headers["X-Trace"] == "t1"
    assert seen[-1].headers["Authorization"] == "Bearer legacy-token-value"
    assert seen[-1].host.startswith("127.0.0.1:")


def test_the_benchmark_runs(tmp_path: Path) -> None:
    """bench/openapi.py, checked to work with a small document (its figures are in bench/RESULTS.md)."""
    shown = subprocess.run(
        [sys.executable, "-m", "bench.openapi", str(DOCUMENTS / "petstore-3.0.yaml"), "--asks", "2"],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "built and bound 3 commands" in shown.stdout
    assert "GET /v1/commands: median" in shown.stdout
