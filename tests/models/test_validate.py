"""BPMN models checked against the catalog: ``POST /v1/validate`` and ``connector-proxy validate``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from tests.support import CLI, SITE, TEST_CONFIG, TEST_ENV, Daemon, client_from

MODELS = Path(__file__).parents[1] / "fixtures" / "models"
# the sample connector only: the http/* ids are the host's own built-ins here
SAMPLE_ONLY = '[discovery]\nenable_unlisted = false\n[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&secret;</definitions>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<definitions>&lol2;</definitions>"""


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return client_from(tmp_path, SAMPLE_ONLY)


def findings(answer: Any) -> set[tuple[str, str, str | None]]:
    return {(f["task_id"], f["kind"], f["parameter"]) for f in answer["findings"]}


def test_every_kind_of_problem_is_named_by_file_task_and_parameter(client: FlaskClient) -> None:
    answer = client.post(
        "/v1/validate", data=(MODELS / "orders.bpmn").read_bytes(), content_type="application/xml"
    )

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] is False and body["files"] == 1 and body["service_tasks"] == 4
    assert findings(body) == {
        ("Task_fetch", "host_built_in", None),
        ("Task_broken", "unknown_parameter", "colour"),
        ("Task_broken", "missing_parameter", "name"),
        ("Task_broken", "wrong_type", "times"),
        ("Task_broken", "uncaught_code", None),
        ("Task_missing", "unknown_command", None),
    }
    wrong = next(f for f in body["findings"] if f["kind"] == "wrong_type")
    assert wrong["file"] == "request body" and wrong["task_name"] == "Greet badly"
    assert "'three' is not of type 'integer'" in wrong["message"]
    uncaught = next(f for f in body["findings"] if f["kind"] == "uncaught_code")
    assert "'NoSuchCode'" in uncaught["message"]
    assert next(f for f in body["findings"] if f["kind"] == "host_built_in")["severity"] == "note"


def test_a_host_run_id_is_noted_even_where_the_http_connector_offers_it(tmp_path: Path) -> None:
    """The plain http ids are the http connector's aliases, yet a SpiffWorkflow backend never sends
    them: every use is noted with the reason, and the catalog marks them."""
    client = client_from(tmp_path, TEST_CONFIG, TEST_ENV)
    model = (MODELS / "orders.bpmn").read_bytes()
    model_v2 = model.replace(b'id="http/GetRequest"', b'id="http/GetRequestV2"')

    catalog = {entry["id"]: entry for entry in client.get("/v1/commands").get_json()}
    noted = client.post("/v1/validate", data=model, content_type="application/xml").get_json()
    plain = client.post("/v1/validate", data=model_v2, content_type="application/xml").get_json()

    assert catalog["http/GetRequest"]["alias_of"] == "http/GetRequestV2"
    assert catalog["http/GetRequest"]["run_by_host"] is True
    assert (
        catalog["http/GetRequestV2"]["alias_of"] is None
        and catalog["http/GetRequestV2"]["run_by_host"] is False
    )
    note = next(f for f in noted["findings"] if f["task_id"] == "Task_fetch")
    assert note["kind"] == "host_built_in" and note["severity"] == "note"
    assert "destination policy" in note["message"] and "http/GetRequestV2" in note["message"]
    assert [f["kind"] for f in plain["findings"] if f["task_id"] == "Task_fetch"] == []


def test_several_files_in_a_multipart_form(client: FlaskClient) -> None:
    files = [(open(MODELS / name, "rb"), name) for name in ("clean.bpmn", "orders.bpmn")]  # noqa: SIM115
    answer = client.post("/v1/validate", data={"files": files}, content_type="multipart/form-data")

    body = answer.get_json()
    assert body["files"] == 2 and body["service_tasks"] == 5
    assert {f["file"] for f in body["findings"]} == {"orders.bpmn"}


def test_a_clean_model_is_ok(client: FlaskClient) -> None:
    answer = client.post("/v1/validate", data=(MODELS / "clean.bpmn").read_bytes(), content_type="text/xml")

    assert answer.get_json() == {"ok": True, "files": 1, "service_tasks": 1, "findings": []}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<definitions><unclosed></definitions>", "not well-formed XML (mismatched tag: line 1"),
        (XXE, "refused (DTDForbidden)"),
        (BILLION_LAUGHS, "refused (DTDForbidden)"),
        (b'<html xmlns="x"/>', "not a BPMN model (the root element is 'html', not definitions)"),
        (b"", "No model was sent"),
    ],
)
def test_what_is_not_safe_bpmn_is_a_400_naming_the_cause(client: FlaskClient, body: bytes, said: str) -> None:
    answer = client.post("/v1/validate", data=body, content_type="application/xml")

    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["error_code"] == "InvalidModel" and said in error["message"]


def validate(tmp_path: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "plugins.toml"
    config.write_text(SAMPLE_ONLY)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(SITE),
        **TEST_ENV,
        **extra,
        "CONNECTOR_PROXY_CONFIG": str(config),
    }
    return subprocess.run([*CLI, "validate", *arguments], env=env, capture_output=True, text=True, timeout=60)


def test_the_command_line_checks_in_process_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bpmn"
    broken.write_bytes(b"<definitions>")
    done = validate(tmp_path, str(MODELS / "clean.bpmn"), str(MODELS / "orders.bpmn"), str(broken))

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    orders = str(MODELS / "orders.bpmn")
    assert f"{orders}: task Task_broken ('Greet badly'): parameter colour: unknown_parameter: " in done.stdout
    assert any(
        line.startswith(f"{orders}: task Task_missing") and "unknown_command" in line for line in lines
    )
    assert lines[-1] == "3 file(s), 5 service task(s), 6 problem(s)"  # 5 in orders, the unreadable file
    assert f"{broken}: not well-formed XML" in done.stderr


def test_the_command_line_checks_against_a_running_daemon(tmp_path: Path) -> None:
    config = tmp_path / "daemon.toml"
    config.write_text(SAMPLE_ONLY + '[auth]\napi_keys = ["env:PROXY_KEY"]\n')
    environ = {**TEST_ENV, "PROXY_KEY": "validate-key-1"}
    with Daemon(config, environ, tmp_path / "daemon.log") as daemon:
        key = ("--api-key", "env:VALIDATE_KEY")
        clean = str(MODELS / "clean.bpmn")
        done = validate(tmp_path, "--url", daemon.url, *key, clean, VALIDATE_KEY="validate-key-1")
        refused = validate(tmp_path, "--url", daemon.url, clean)
        through = requests.post(
            f"{daemon.url}/v1/validate",
            data=XXE,
            headers={"Content-Type": "application/xml", "Spiff-Connector-Proxy-Api-Key": "validate-key-1"},
            timeout=10,
        )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 file(s), 1 service task(s), 0 problem(s)"
    assert refused.returncode == 2 and "answered 401 to GET /v1/commands" in refused.stderr
    assert through.status_code == 400 and through.json()["error"]["error_code"] == "InvalidModel"


def test_a_model_over_the_limit_is_refused_unread_by_the_daemon(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text("[limits]\nmax_model_bytes = 65536\n" + TEST_CONFIG)
    clean = (MODELS / "clean.bpmn").read_bytes()
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        fits = requests.post(
            f"{daemon.url}/v1/validate", data=clean, headers={"Content-Type": "application/xml"}, timeout=30
        )
        big = requests.post(
            f"{daemon.url}/v1/validate",
            data=clean + b" " * 70_000,
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )

    assert fits.status_code == 200 and fits.json()["ok"] is True
    assert big.status_code == 413 and big.json()["error"]["error_code"] == "PayloadTooLarge"
    assert "65536 bytes" in big.json()["error"]["message"]
