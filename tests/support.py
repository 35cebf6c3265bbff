"""Helpers the tests share: configurations, apps, and servers on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import venv
import zipfile
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from connector_proxy.config import Settings, load_settings
from connector_proxy.sdk.testing import RunningDaemon
from connector_proxy.web.app import create_app

ROOT = Path(__file__).parents[1]
SITE = Path(__file__).parent / "fixtures" / "site"
SPIFF_SITE = Path(__file__).parent / "fixtures" / "spiff_site"  # SpiffWorkflow-shaped packages
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


def completed(client: FlaskClient, command: str, **parameters: Any) -> dict[str, Any]:
    """The envelope of a call that completed (HTTP 200), with or without an error."""
    status, answer = call(client, command, parameters)
    assert status == 200, answer
    envelope: dict[str, Any] = answer
    return envelope


def succeeded(client: FlaskClient, command: str, **parameters: Any) -> Any:
    """The body of a call that completed without an error."""
    envelope = completed(client, command, **parameters)
    assert envelope["error"] is None, envelope["error"]
    return envelope["command_response"]["body"]


def call(client: FlaskClient, command: str, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    response = client.post(f"/v1/do/{command}", json=payload, **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


class Daemon(RunningDaemon):
    """The real daemon with the sample connectors visible, its output kept in ``log``."""

    def __init__(
        self, config: Path, environ: Mapping[str, str], log: Path, site: tuple[Path, ...] = ()
    ) -> None:
        self.log = log
        super().__init__(config, environ, site=(SITE, *site), output=log.open("wb"))

    def wait_ready(self, seconds: float = 20, poll: float = 0.05) -> float:
        try:
            return super().wait_ready(seconds, poll)
        except RuntimeError as error:
            raise RuntimeError(f"{error}:\n{self.log.read_text()}") from None


CLI = [sys.executable, "-m", "connector_proxy"]


class CallbackReceiver:
    """A host's callback endpoint on 127.0.0.1: records every PUT; can fail the first ones with 500."""

    def __init__(self, port: int = 0, fail_first: int = 0) -> None:
        self.received: list[tuple[str, Any]] = []
        self.attempts = 0
        self._fail_first = fail_first
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._arrived:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver._fail_first
                    if not failing:
                        receiver.received.append((self.path, json.loads(body)))
                        receiver.headers = dict(self.headers)
                    receiver._arrived.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return None

        self.headers: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, seconds: float = 20) -> list[tuple[str, Any]]:
        """What arrived once ``count`` distinct paths have (or the time is up)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len({path for path, _ in self.received}) >= count, seconds)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wheel(folder: Path, name: str, version: str, modules: dict[str, str], entry_points: str = "") -> Path:
    """A pure-Python wheel, built by hand: a zip with the module and its dist-info."""
    info = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        **modules,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def environment(folder: Path, wheels: list[Path]) -> Path:
    """A virtual environment with these wheels installed by pip, offline; its python."""
    venv.EnvBuilder(with_pip=False).create(folder)
    site = next(folder.glob("lib/python3*/site-packages"))
    (site / "connector_proxy_sdk.pth").write_text(f"{ROOT}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site)]
        + [str(w) for w in wheels],
        check=True,
    )
    return folder / "bin" / "python"
