"""The real daemon under gunicorn, driven over HTTP the way a host drives it."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from connector_proxy.sdk.testing import silent_server
from connector_proxy.testing import RunningDaemon
from connector_proxy.web.auth import HEADER
from tests.support import CLI, SITE, TEST_CONFIG, TEST_ENV, Daemon, wait_until

KEY = "e2e-key-4f9a0c"
MODELER = "http://127.0.0.1:7001"  # a browser application allowed to call across origins
CONFIG = (
    '[auth]\napi_keys = ["env:E2E_PROXY_KEY"]\n[server]\nworkers = 2\nthreads = 4\n'
    + f'[cors]\norigins = ["{MODELER}"]\n'
    + TEST_CONFIG
)
ENV = {**TEST_ENV, "E2E_PROXY_KEY": KEY}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("daemon")
    config = folder / "plugins.toml"
    config.write_text(CONFIG)
    running = Daemon(config, ENV, folder / "daemon.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def host_call(
    daemon: Daemon, command: str, payload: dict[str, Any], key: str | None = KEY
) -> requests.Response:
    """What the SpiffWorkflow host sends: its keys, its header, its 45 s timeout."""
    body = {"spiff__task_id": "task-1", "spiff__task_data": {"a": 1}, "spiff__callback_url": None, **payload}
    headers = {HEADER: key} if key else {}
    return requests.post(f"{daemon.url}/v1/do/{command}", json=body, headers=headers, timeout=45)


def test_a_listed_origins_preflight_and_call_through_gunicorn(daemon: Daemon) -> None:
    asked = {
        "Origin": MODELER,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": HEADER,
    }
    preflight = requests.options(f"{daemon.url}/v1/do/sample/Greet", headers=asked, timeout=5)
    called = host_call_from(daemon, MODELER)
    stranger = requests.options(
        f"{daemon.url}/v1/do/sample/Greet", headers={**asked, "Origin": "http://x"}, timeout=5
    )

    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == MODELER
    assert called.status_code == 200 and called.headers["Access-Control-Allow-Origin"] == MODELER
    assert stranger.status_code == 401 and "Access-Control-Allow-Origin" not in stranger.headers


def host_call_from(daemon: Daemon, origin: str) -> requests.Response:
    headers = {HEADER: KEY, "Origin": origin}
    return requests.post(
        f"{daemon.url}/v1/do/sample/Greet", json={"name": "Ada"}, headers=headers, timeout=10
    )


def test_liveness_is_open(daemon: Daemon) -> None:
    response = requests.get(f"{daemon.url}/liveness", timeout=5)
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_discovery_needs_the_key_and_lists_the_working_connectors(daemon: Daemon) -> None:
    refused = requests.get(f"{daemon.url}/v1/commands", timeout=5)
    listed = requests.get(f"{daemon.url}/v1/commands", headers={HEADER: KEY}, timeout=5)
    connectors = requests.get(f"{daemon.url}/v1/connectors", headers={HEADER: KEY}, timeout=5).json()

    assert refused.status_code == 401
    assert refused.json() == {"error": f"The {HEADER} header is missing", "error_code": "Unauthorized"}
    ids = {entry["id"] for entry in listed.json()}
    assert {"http/GetRequestV2", "http/PostRequestV2", "sample/Greet"} <= ids
    assert not any(command.startswith("broken/") for command in ids)
    states = {entry["name"]: entry["state"] for entry in connectors}
    assert states["broken"] == "import_error"
    assert states["http"] == states["sample"] == "ready"


def test_a_get_through_the_http_connector(daemon: Daemon, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/orders/7").respond_with_json({"id": 7, "state": "paid"})

    response = host_call(daemon, "http/GetRequestV2", {"url": httpserver.url_for("/orders/7")})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    envelope = response.json()
    assert envelope["command_response"] == {
        "body": {"id": 7, "state": "paid"},
        "mimetype": "application/json",
        "http_status": 200,
    }
    assert envelope["error"] is None
    assert envelope["command_response_version"] == 2


def test_an_upstream_500(daemon: Daemon, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("database is down", status=500)

    envelope = host_call(daemon, "http/GetRequestV2", {"url": httpserver.url_for("/down")}).json()

    assert envelope["error"]["error_code"] == "HttpError500"
    assert envelope["command_response"]["http_status"] == 500
    assert envelope["command_response"]["body"] == {"raw_response": "database is down"}


def test_a_hung_upstream_is_cut_by_the_timeout(daemon: Daemon) -> None:
    with silent_server() as url:
        started = time.monotonic()
        response = host_call(daemon, "http/GetRequestV2", {"url": url, "timeout": 1})
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.json()["error"]["error_code"] == "Timeout"
    assert elapsed < 5


def test_invalid_parameters(daemon: Daemon) -> None:
    response = host_call(daemon, "http/GetRequestV2", {"attempts": "three"})

    assert response.status_code == 400
    assert response.json()["error"]["error_code"] == "InvalidParameters"
    assert response.json()["error"]["message"] == (
        "Invalid parameters: attempts: must be of type integer; url: is required"
    )


def test_an_unknown_command(daemon: Daemon) -> None:
    response = host_call(daemon, "http/FetchEverything", {})

    assert response.status_code == 404
    assert response.json()["error"]["error_code"] == "command_not_found"


def test_a_wrong_key(daemon: Daemon) -> None:
    response = host_call(daemon, "sample/Greet", {"name": "Ada"}, key="not-the-key")

    assert response.status_code == 401
    assert response.json()["error_code"] == "Unauthorized"  # the protocol's 401: error is the message


def test_a_crash_answers_json_and_logs_the_traceback(daemon: Daemon) -> None:
    response = host_call(daemon, "sample/Crash", {})

    assert response.status_code == 500
    assert response.json()["error"]["error_code"] == "CommandCrashed"
    assert "(KeyError)" in response.json()["error"]["message"]
    assert "Traceback" not in response.text
    # the log line is written after the answer
    wait_until(lambda: "Traceback" in daemon.log.read_text(), 20, "the traceback in the log")


def test_a_request_gunicorn_cannot_parse_is_answered_in_json(daemon: Daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
        raw.sendall(b"GET /v1/commands?token=s3cret HTTP/9.9\r\nHost: x\r\n\r\n")
        answer = raw.makefile("rb").read()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"] == {"error_code": "BadRequest", "message": "Bad Request"}


@pytest.mark.parametrize(("extra", "code"), [(0, "InvalidParameters"), (1, "PayloadTooLarge")])
def test_a_chunked_body_is_held_to_the_same_limit(tmp_path: Path, extra: int, code: str) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text("[limits]\nmax_body_bytes = 4096\n")
    filler = 4096 - len('{"url": ""}') + extra  # exactly at the limit, then one byte over

    def chunks() -> Iterator[bytes]:  # a generator body is sent chunked, with no Content-Length
        yield b'{"url": "'
        yield b"a" * filler
        yield b'"}'

    with RunningDaemon(config) as running:
        running.wait_ready()
        response = requests.post(f"{running.url}/v1/do/http/GetRequestV2", data=chunks(), timeout=10)

    # at the limit the whole body was read (the URL is refused, not the JSON); over it, 413
    assert response.json()["error"]["error_code"] == code
    assert response.status_code == (413 if extra else 400)


def test_the_daemon_log_holds_no_secret(daemon: Daemon) -> None:
    host_call(daemon, "sample/Greet", {"name": "Ada"})
    log = daemon.log.read_text()

    assert "connector broken left out (import_error)" in log
    assert "'sample/Greet' -> 200 ok in" in log  # each call is logged, without its parameters
    assert TEST_ENV["SAMPLE_TOKEN"] not in log
    assert KEY not in log
    assert "jobs.callback_headers is empty: callbacks carry no credential" in log  # said once, at start-up


def test_sigterm_stops_the_daemon_gracefully(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[jobs]\ncallback_headers = ["SpiffWorkflow-Api-Key: env:SPIFF_KEY"]\n'
        'callback_allow = ["127.0.0.1"]\n' + TEST_CONFIG
    )
    running = Daemon(config, {**TEST_ENV, "SPIFF_KEY": "spiff-service-key-77"}, tmp_path / "daemon.log")
    running.wait_ready()

    assert running.stop() == 0
    log = running.log.read_text()
    assert "Shutting down" in log
    assert "callback_headers is empty" not in log and "spiff-service-key-77" not in log


def run_cli(tmp_path: Path, *arguments: str, config: str = TEST_CONFIG) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "plugins.toml"
    path.write_text(config)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SITE), **TEST_ENV, "CONNECTOR_PROXY_CONFIG": str(path)}
    return subprocess.run([*CLI, *arguments], env=env, capture_output=True, text=True, timeout=60)


def test_call_runs_a_command_without_a_host(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "call", "sample/Greet", "name=Ada", "times:=2", 'tags:=["a"]')

    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["command_response"]["body"] == {"greeting": "Hello Ada Hello Ada", "tags": ["a"]}


def test_call_exits_non_zero_on_an_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "call", "sample/Greet", "name=Ada", "times=2")

    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["error_code"] == "InvalidParameters"


def test_list_prints_the_catalog(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "list")

    assert done.returncode == 0, done.stderr
    assert "http/GetRequestV2" in done.stdout
    assert (
        "http/GetRequest       url*" in done.stdout and "alias of http/GetRequestV2 (a Spiff" in done.stdout
    )
    assert "broken: import_error" in done.stdout
    # the sample's token is masked; the http connector's schema defaults are filled in
    assert 'sample: {"greeting": "Hello", "token": "********"}' in done.stdout
    assert '"max_redirects": 5' in done.stdout


def test_a_bad_configuration_stops_serve_with_a_clear_message(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", config="[server]\nworkers = 0\n")

    assert done.returncode == 2
    where = tmp_path / "plugins.toml"  # the message names the file, then the key and the rule
    assert f"configuration error in {where}: server.workers must be at least 1" in done.stderr
