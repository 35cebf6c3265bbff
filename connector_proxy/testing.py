"""The daemon's own test kit: its application in the test's process.

    client = app_client(tmp_path, "[connectors.mine.config]\ntoken = 'env:TOKEN'\n", {"TOKEN": "t"})
    body = succeeded(client, "mine/DoIt", number=42)  # connector_proxy.sdk.testing's helpers

It lives beside the daemon, not in the SDK, because it builds the daemon; ``connector_proxy.sdk.testing``
keeps ``app_client`` as a deprecated alias of this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask.testing import FlaskClient

from connector_proxy.config import load_settings
from connector_proxy.web.app import create_app

__all__ = ["app_client"]


def app_client(folder: Path, config: str, environ: Mapping[str, str] | None = None) -> FlaskClient:
    """The daemon's application in this process, configured by ``config`` (plugins.toml text,
    written into ``folder``) and ``environ`` (where ``env:`` references are read)."""
    path = folder / "plugins.toml"
    path.write_text(config)
    return create_app(load_settings(path, dict(environ or {}))).test_client()
