"""Helpers the tests share: configurations, apps, and servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient

from connector_proxy.config import Settings, load_settings
from connector_proxy.web.app import create_app

SITE = Path(__file__).parent / "fixtures" / "site"
if str(SITE) not in sys.path:
    sys.path.insert(0, str(SITE))  # makes the sample connectors' entry points visible

# loopback is refused by default; the tests' upstreams live there
TEST_CONFIG = """
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
greeting = "Hello"

[connectors.http.config.destinations]
allow_loopback = true
"""
TEST_ENV = {"SAMPLE_TOKEN": "s3cr3t-token-value"}


def settings_from(
    tmp_path: Path, toml: str = TEST_CONFIG, environ: Mapping[str, str] | None = None
) -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(toml)
    return load_settings(path, dict(TEST_ENV if environ is None else environ))


def app_from(tmp_path: Path, toml: str = TEST_CONFIG, environ: Mapping[str, str] | None = None) -> Flask:
    return create_app(settings_from(tmp_path, toml, environ))


def client_from(
    tmp_path: Path, toml: str = TEST_CONFIG, environ: Mapping[str, str] | None = None
) -> FlaskClient:
    return app_from(tmp_path, toml, environ).test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def silent_server() -> Iterator[str]:
    """An upstream that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def call(client: FlaskClient, command: str, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    response = client.post(f"/v1/do/{command}", json=payload, **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


class Daemon:
    """The real daemon under gunicorn, as ``connector-proxy serve`` starts it."""

    def __init__(self, config: Path, environ: Mapping[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, **environ, "PYTHONPATH": str(SITE)}
        self.process = subprocess.Popen(
            [*CLI, "serve", "--config", str(config), "--bind", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited early:\n{self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/liveness", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"the daemon did not answer in {seconds} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


CLI = [sys.executable, "-m", "connector_proxy"]
