from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from connector_proxy.web.auth import HEADER, key_matches
from tests.support import TEST_CONFIG, TEST_ENV, client_from

KEYS = {"OLD_KEY": "old-key-being-rotated-out", "NEW_KEY": "new-key-0123456789"}


@pytest.fixture
def guarded(tmp_path: Path) -> FlaskClient:
    toml = '[auth]\napi_keys = ["env:OLD_KEY", "env:NEW_KEY"]\n' + TEST_CONFIG
    return client_from(tmp_path, toml, {**TEST_ENV, **KEYS})


@pytest.mark.parametrize(
    "path", ["/v1/commands", "/v1/connectors", "/v1/commands/sample/Greet", "/v1/elsewhere"]
)
def test_a_missing_key_is_refused_in_the_protocols_shape(guarded: FlaskClient, path: str) -> None:
    """SpiffWorkflow's published schema for a 401: an object whose error is a string."""
    response = guarded.get(path)

    assert response.status_code == 401
    assert response.get_json() == {"error": f"The {HEADER} header is missing", "error_code": "Unauthorized"}


def test_a_wrong_key_is_refused(guarded: FlaskClient) -> None:
    response = guarded.post("/v1/do/sample/Greet", json={"name": "Ada"}, headers={HEADER: "guess"})

    assert response.status_code == 401
    assert response.get_json()["error_code"] == "Unauthorized"


def test_every_configured_key_is_accepted(guarded: FlaskClient) -> None:
    for key in KEYS.values():
        response = guarded.post("/v1/do/sample/Greet", json={"name": "Ada"}, headers={HEADER: key})
        assert response.status_code == 200


def test_liveness_and_open_paths_need_no_key(guarded: FlaskClient) -> None:
    assert guarded.get("/liveness").status_code == 200
    assert guarded.get("/v1/liveness").status_code == 200
    assert guarded.get("/v1/typeahead/users?prefix=a").status_code == 404  # open, and not built yet


def test_without_keys_everyone_is_let_in(client: FlaskClient) -> None:
    assert client.get("/v1/commands").status_code == 200


def test_key_matching() -> None:
    assert key_matches("b", ("a", "b"))
    assert not key_matches("c", ("a", "b"))
    assert not key_matches("", ("a",))
    assert not key_matches("ab", ("a",))
