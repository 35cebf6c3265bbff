"""The destination policy through the real daemon: ports, origins, and addresses that wrap loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from bench.upstreams import Upstream, fast_upstream
from connector_proxy.sdk.testing import SilentServer
from connector_proxy.testing import RunningDaemon


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with fast_upstream(prefer_nginx=False) as running:
        yield running


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[RunningDaemon]:
    port = upstream.url.split(":")[2].split("/")[0]
    config = tmp_path_factory.mktemp("destinations") / "plugins.toml"
    config.write_text(  # loopback stays refused: only the upstream's port is named
        f'[server]\nlog_level = "warning"\n'
        f'[connectors.http.config.destinations]\nallow = ["127.0.0.1:{port}"]\n'
    )
    with RunningDaemon(config) as running:
        yield running


def forward(daemon: RunningDaemon, url: str) -> Any:
    answer = requests.post(f"{daemon.url}/v1/do/http/GetRequestV2", json={"url": url}, timeout=10)
    assert answer.status_code == 200
    return answer.json()


def test_the_allowed_port_is_reachable(daemon: RunningDaemon, upstream: Upstream) -> None:
    assert forward(daemon, upstream.url)["error"] is None


def test_another_port_on_the_same_address_is_refused(daemon: RunningDaemon) -> None:
    with SilentServer() as other:  # stands for Redis beside the allowed service
        error = forward(daemon, f"{other.url}/")["error"]
        assert other.open_connections() == 0

    assert error["error_code"] == "DestinationBlocked"
    assert "loopback" in error["message"]


@pytest.mark.parametrize(
    "host",
    ["[::7f00:1]", "[::ffff:0:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[64:ff9b::a9fe:a9fe]"],
)
def test_ipv6_spellings_of_loopback_and_metadata_are_refused(daemon: RunningDaemon, host: str) -> None:
    error = forward(daemon, f"http://{host}/latest/meta-data/")["error"]

    assert error["error_code"] == "DestinationBlocked"
    assert "refused" in error["message"]


def test_a_malformed_entry_stops_the_connector_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text('[connectors.http.config.destinations]\nallow = ["example.com:http"]\n')
    log = tmp_path / "daemon.log"
    with log.open("wb") as output, RunningDaemon(config, output=output) as running:
        running.wait_ready()
        commands = requests.get(f"{running.url}/v1/commands", timeout=10).json()

    assert not any(command["id"].startswith("http/") for command in commands)
    assert "destinations.allow: 'example.com:http'" in log.read_text()


@pytest.fixture(scope="module")
def open_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    config = tmp_path_factory.mktemp("redirects") / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "warning"\n'
        '[connectors.http.config]\nkeep_headers_across_origins = ["X-Trace"]\n'
        "[connectors.http.config.destinations]\nallow_loopback = true\n"
    )
    with RunningDaemon(config) as running:
        yield running


@pytest.mark.parametrize("cross_origin", [True, False])
def test_a_redirect_to_another_origin_carries_only_safe_headers(
    open_daemon: RunningDaemon, httpserver: HTTPServer, cross_origin: bool
) -> None:
    with HTTPServer(host="127.0.0.1") as elsewhere:
        landing = elsewhere if cross_origin else httpserver
        landing.expect_request("/land").respond_with_json({"landed": True})
        httpserver.expect_request("/away").respond_with_data(
            "", status=302, headers={"Location": landing.url_for("/land")}
        )
        headers = {"X-Api-Key": "k-s3cret", "Cookie": "s=1", "X-Trace": "t-1", "Accept-Language": "fr"}
        answer = requests.post(
            f"{open_daemon.url}/v1/do/http/GetRequestV2",
            json={"url": httpserver.url_for("/away"), "headers": headers, "basic_auth_username": "u"},
            timeout=10,
        ).json()
        [(request, _)] = [entry for entry in landing.log if entry[0].path == "/land"]

    assert answer["command_response"]["body"] == {"landed": True}
    sent = {name.lower() for name, _ in request.headers.items()}
    assert {"x-trace", "accept-language"} <= sent  # safe, or kept by configuration
    if cross_origin:
        assert not sent & {"x-api-key", "cookie", "authorization"}
    else:
        assert {"x-api-key", "cookie"} <= sent  # the same origin gets what the call set


def test_the_log_shows_no_url_secret_even_from_libraries_at_debug(tmp_path: Path, upstream: Upstream) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "debug"\n[connectors.http.config.destinations]\nallow_loopback = true\n'
    )
    secret_url = upstream.url.replace("http://", "http://someone:pw-s3cret@") + "?token=tk-s3cret"
    log = tmp_path / "daemon.log"
    with log.open("wb") as output, RunningDaemon(config, output=output) as running:
        running.wait_ready()
        answer = requests.post(
            f"{running.url}/v1/do/http/GetRequestV2", json={"url": secret_url}, timeout=10
        ).json()
        requests.get(f"{running.url}/v1/commands?api_key=q-s3cret", timeout=10)
    text = log.read_text()
    messages = [json.loads(line)["message"] for line in text.splitlines()]

    assert answer["error"] is None
    assert any('"GET /items?… HTTP/1.1" 200' in m for m in messages)  # urllib3's request line, redacted
    assert "s3cret" not in text


def test_a_body_that_trickles_in_is_cut_at_the_timeout(open_daemon: RunningDaemon) -> None:
    with _trickling_upstream(byte_every=0.2, length=1000) as url:
        started = time.monotonic()
        answer = requests.post(
            f"{open_daemon.url}/v1/do/http/GetRequestV2", json={"url": url, "timeout": 1.5}, timeout=30
        ).json()
        took = time.monotonic() - started

    assert answer["error"]["error_code"] == "Timeout"
    assert "did not arrive in time" in answer["error"]["message"]
    assert took < 1.5 + 1.0  # the whole exchange by its timeout: 1,000 bytes would take 200 s


@contextmanager
def _trickling_upstream(byte_every: float, length: int) -> Iterator[str]:
    """Answers at once with headers, then sends its body one byte at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode())
            for _ in range(length):
                if stop.wait(byte_every):
                    return
                try:
                    connection.sendall(b"x")
                except OSError:
                    return  # the proxy gave up: what the test wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/drip"
    finally:
        stop.set()
        listener.close()
        thread.join(5)
