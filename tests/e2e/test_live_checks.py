"""Live checks of connectors' credentials (``@connector.check``), through the real daemon and the CLI.

The built-ins check what they depend on (http: each destination ``allow`` names answers; os: its
roots and programs), against a real upstream on 127.0.0.1 and a port nobody listens on; aws's is
tested on moto's server in its own package. A check sits behind the API key, is bounded by
``limits.check_timeout``, is counted in the metrics, and ``connector-proxy check --live`` runs them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from connector_proxy.sdk.testing import free_port
from tests.support import CLI, SITE, TEST_ENV, Daemon

KEY = {"Spiff-Connector-Proxy-Api-Key": "live-check-key-0123"}


class _Answers(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def configuration(folder: Path, upstream: str, dead: str) -> Path:
    (folder / "root").mkdir(exist_ok=True)
    config = folder / "plugins.toml"
    config.write_text(
        f"""
[server]
workers = 1
[auth]
api_keys = ["{KEY["Spiff-Connector-Proxy-Api-Key"]}"]
[limits]
check_timeout = 1.0
[discovery]
enable_unlisted = false
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
[connectors.http.config.destinations]
allow_loopback = true
allow = ["{upstream}", "{dead}"]
[connectors.os.config]
roots = ["{folder / "root"}"]
programs = {{ echo = {{ path = "echo" }} }}
[connectors.aws]
enabled = false
"""
    )
    return config


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[tuple[Daemon, Path]]:
    folder = tmp_path_factory.mktemp("checks")
    dead = f"http://127.0.0.1:{free_port()}"
    steer = folder / "steer.txt"
    environ = {**TEST_ENV, "SAMPLE_CHECK_FILE": str(steer)}
    with Daemon(configuration(folder, upstream, dead), environ, folder / "daemon.log") as running:
        yield running, folder


def check(daemon: Daemon, name: str, headers: dict[str, str] = KEY) -> requests.Response:
    return requests.post(f"{daemon.url}/v1/connectors/{name}/check", headers=headers, timeout=30)


def test_the_built_ins_check_what_they_depend_on(daemon: tuple[Daemon, Path], upstream: str) -> None:
    running, folder = daemon
    os_fine = check(running, "os").json()
    http = check(running, "http").json()
    shutil.rmtree(folder / "root")
    os_broken = check(running, "os").json()
    (folder / "root").mkdir()

    assert (os_fine["state"], os_fine["message"]) == ("ok", "1 root(s) readable, 1 program(s) executable")
    assert http["state"] == "failed"
    assert http["message"].startswith("no answer from http://127.0.0.1:")
    assert "(NewConnectionError)" in http["message"]
    assert http["message"].endswith(f"answered: {upstream} 204")
    assert os_broken["state"] == "failed"
    assert os_broken["message"] == f"root {folder / 'root'} is not readable"


def test_a_check_needs_the_key_ends_by_its_deadline_and_is_counted(daemon: tuple[Daemon, Path]) -> None:
    running, folder = daemon
    (folder / "steer.txt").write_text("slow")
    refused = check(running, "sample", headers={})
    started = time.monotonic()
    slow = check(running, "sample")
    took = time.monotonic() - started
    (folder / "steer.txt").write_text("ok")
    fine = check(running, "sample").json()
    scraped = requests.get(f"{running.url}/metrics", headers=KEY, timeout=10).text

    assert refused.status_code == 401 and refused.json()["error_code"] == "Unauthorized"
    assert slow.json()["state"] == "failed"
    assert slow.json()["message"] == "the check answered after its 1 s deadline"
    assert took < 3.0  # the check's own wait ends half a second past its 1 s deadline
    assert fine == {
        "connector": "sample",
        "state": "ok",
        "message": "the token was accepted by the ok provider",
        "seconds": fine["seconds"],
    }
    assert 'connector_proxy_checks_total{connector="sample",result="failed"} 1.0' in scraped
    assert 'connector_proxy_checks_total{connector="sample",result="ok"} 1.0' in scraped


def test_check_live_runs_every_check_and_fails_on_a_failed_one(tmp_path: Path, upstream: str) -> None:
    config = configuration(tmp_path, upstream, upstream)  # both allowed origins answer
    steer = tmp_path / "steer.txt"
    env = {**os.environ, **TEST_ENV, "PYTHONPATH": str(SITE), "SAMPLE_CHECK_FILE": str(steer)}

    def live() -> subprocess.CompletedProcess[str]:
        command = [*CLI, "check", "--live", "--config", str(config)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    steer.write_text("ok")
    passed = live()
    steer.write_text("fail")
    failed = live()

    assert passed.returncode == 0, passed.stderr
    assert f"http: live check ok: answered: {upstream} 204" in passed.stdout
    assert "os: live check ok: 1 root(s) readable, 1 program(s) executable" in passed.stdout
    assert "sample: live check ok: the token was accepted by the ok provider" in passed.stdout
    assert failed.returncode == 1
    assert "sample: live check failed: the provider refused the token (401)" in failed.stderr
    assert "1 problem(s)" in failed.stdout
