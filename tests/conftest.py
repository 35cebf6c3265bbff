"""Shared fixtures; the helpers themselves live in tests/support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from connector_proxy.testing import stop_all
from tests.support import client_from


@pytest.fixture(autouse=True, scope="session")
def _no_process_outlives_the_run() -> Iterator[None]:
    """Whatever a test started and did not stop (an interrupted run, a fixture cut short) is stopped,
    with its process group, when the session ends; connector_proxy.testing's exit handler does it too."""
    try:
        yield
    finally:
        stop_all()


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    """The app with the test configuration: sample and http connectors ready."""
    return client_from(tmp_path)
