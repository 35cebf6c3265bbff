"""``app_client()``: the daemon's application in the test's process, no server.

client = app_client(tmp_path, "[connectors.mine.config]\ntoken = 'env:TOKEN'\n", {"TOKEN": "t"})
body = succeeded(client, "mine/DoIt", number=42)  # connector_proxy.sdk.testing's helpers
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask.testing import FlaskClient


def app_client(folder: Path, config: str, environ: Mapping[str, str] | None = None) -> FlaskClient:
    """The daemon's application in this process, configured by ``config`` (plugins.toml text,
    written into ``folder``) and ``environ`` (where ``env:`` references are read)."""
    # the daemon is loaded when a test asks for its application, not by importing the test kit
    from connector_proxy.config import load_settings
    from connector_proxy.web.app import create_app

    path = folder / "plugins.toml"
    path.write_text(config)
    return create_app(load_settings(path, dict(environ or {}))).test_client()
