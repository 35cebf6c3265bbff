"""Shared fixtures; the helpers themselves live in tests/support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support import client_from


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    """The app with the test configuration: sample and http connectors ready."""
    return client_from(tmp_path)
