"""Cross-origin calls: browsers of listed origins only, their preflights answered before the key check."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from connector_proxy.config import ConfigError
from connector_proxy.web.auth import HEADER
from tests.support import TEST_CONFIG, TEST_ENV, client_from, settings_from

LISTED = "https://modeler.example.com"
KEYED = TEST_CONFIG + f'[auth]\napi_keys = ["env:KEY"]\n[cors]\norigins = ["{LISTED}"]\n'
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": HEADER}


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return client_from(tmp_path, KEYED, {**TEST_ENV, "KEY": "cors-test-key-1"})


def test_a_listed_origins_preflight_is_answered_before_the_key_check(client: FlaskClient) -> None:
    answer = client.options("/v1/do/sample/Greet", headers={"Origin": LISTED, **PREFLIGHT})

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == LISTED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert HEADER in answer.headers["Access-Control-Allow-Headers"]


def test_another_origins_preflight_gets_no_cors_headers(client: FlaskClient) -> None:
    answer = client.options("/v1/do/sample/Greet", headers={"Origin": "https://evil.example", **PREFLIGHT})

    assert answer.status_code == 401 and "Access-Control-Allow-Origin" not in answer.headers


def test_a_listed_origins_call_still_needs_the_key_and_may_read_the_answer(client: FlaskClient) -> None:
    refused = client.get("/v1/commands", headers={"Origin": LISTED})
    listed = client.get("/v1/commands", headers={"Origin": LISTED, HEADER: "cors-test-key-1"})
    other = client.get("/v1/commands", headers={"Origin": "https://evil.example", HEADER: "cors-test-key-1"})

    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == LISTED
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == LISTED
    assert "X-Request-Id" in listed.headers["Access-Control-Expose-Headers"]
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in listed.headers["Vary"]


def test_without_origins_nothing_is_allowed_across_origins(tmp_path: Path) -> None:
    client = client_from(tmp_path)
    answer = client.options("/v1/commands", headers={"Origin": LISTED, **PREFLIGHT})

    assert answer.status_code == 405 and "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize("origin", ["*", "https://a.example/path", "a.example", "https://*.example.com"])
def test_an_origin_that_is_not_one_is_refused_at_start_up(tmp_path: Path, origin: str) -> None:
    with pytest.raises(ConfigError, match=r"cors\.origins"):
        settings_from(tmp_path, f'[cors]\norigins = ["{origin}"]\n')


def test_the_environment_sets_the_origins_as_the_reference_proxy_names_them(tmp_path: Path) -> None:
    environ = {"CONNECTOR_PROXY_CORS_ORIGINS": f"{LISTED},http://127.0.0.1:7001"}
    settings = settings_from(tmp_path, "", environ)

    assert settings.cors.origins == (LISTED, "http://127.0.0.1:7001")
