"""Helpers the tests share: configurations, apps, and servers on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from connector_proxy.config import Settings, load_settings
from connector_proxy.testing import RunningDaemon
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


def call(client: FlaskClient, command: str, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    response = client.post(f"/v1/do/{command}", json=payload, **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


class Daemon(RunningDaemon):
    """The real daemon with the sample connectors visible, its output kept in ``log``."""

    def __init__(self, config: Path, environ: Mapping[str, str], log: Path) -> None:
        self.log = log
        super().__init__(config, environ, site=(SITE,), output=log.open("wb"))

    def wait_ready(self, seconds: float = 20, poll: float = 0.05) -> float:
        try:
            return super().wait_ready(seconds, poll)
        except RuntimeError as error:
            raise RuntimeError(f"{error}:\n{self.log.read_text()}") from None


CLI = [sys.executable, "-m", "connector_proxy"]
