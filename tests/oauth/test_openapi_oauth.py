"""An OpenAPI document's OAuth 2 schemes (client credentials, authorization code) against a real provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector_proxy.sdk.testing import completed
from connector_proxy.testing import app_client
from tests.oauth_provider import OAuthProvider

DOCUMENT = """
openapi: 3.0.3
info: {{title: who am I, version: '1'}}
paths:
  /userinfo:
    get:
      operationId: whoAmI
      security: [{{machine: [read]}}]
      responses:
        '200':
          description: the token's subject
          content: {{application/json: {{schema: {{type: object, properties: {{sub: {{type: string}}}}}}}}}}
        '401': {{description: the token is not valid}}
components:
  securitySchemes:
    machine:
      type: oauth2
      flows: {{clientCredentials: {{tokenUrl: '{provider}/token', scopes: {{read: read}}}}}}
"""


@pytest.fixture
def provider() -> Iterator[OAuthProvider]:
    running = OAuthProvider([])
    yield running
    running.close()


def test_the_token_is_fetched_once_and_sent_as_bearer(tmp_path: Path, provider: OAuthProvider) -> None:
    (tmp_path / "who.yaml").write_text(DOCUMENT.format(provider=provider.url))
    client = app_client(
        tmp_path,
        f"""
[discovery]
enable_unlisted = false
[connectors.who]
openapi = "who.yaml"
[connectors.who.config]
base_url = "{provider.url}"
auth = {{ machine = {{ client_id = "{provider.client.client_id}", client_secret = "env:SECRET" }} }}
""",
        {"SECRET": provider.client.client_secret},
    )
    first = completed(client, "who/whoAmI")
    second = completed(client, "who/whoAmI")
    assert first["error"] is None, first
    assert first["command_response"]["body"]["sub"] == "alice"
    assert second["error"] is None
    grants = [r["grant_type"] for r in provider.token_requests]
    assert grants == ["client_credentials"]  # kept for the second call


SIGNED_IN = """
openapi: 3.0.3
info: {{title: who am I, version: '1'}}
paths:
  /userinfo:
    get:
      operationId: whoAmI
      security: [{{user: [read]}}]
      responses: {{'200': {{description: the token's subject}}}}
components:
  securitySchemes:
    user:
      type: oauth2
      flows:
        authorizationCode:
          authorizationUrl: '{provider}/authorize'
          tokenUrl: '{provider}/token'
          scopes: {{read: read}}
"""


def test_an_authorization_code_scheme_is_a_sign_in_and_its_token_set_a_parameter(
    tmp_path: Path, provider: OAuthProvider
) -> None:
    (tmp_path / "who.yaml").write_text(SIGNED_IN.format(provider=provider.url))
    client = app_client(
        tmp_path,
        f"""
[discovery]
enable_unlisted = false
[oauth]
redirect_urls = ["http://127.0.0.1:7000/v1.0/"]
session_secret = "env:SESSION"
[connectors.who]
openapi = "who.yaml"
[connectors.who.config]
base_url = "{provider.url}"
auth = {{ user = {{ client_id = "{provider.client.client_id}", client_secret = "env:SECRET" }} }}
""",
        {"SECRET": provider.client.client_secret, "SESSION": "s" * 32},
    )
    assert "who/user" in {entry["id"] for entry in client.get("/v1/auths").get_json()}
    started = client.get("/v1/auth/who/user?redirect_url=http://127.0.0.1:7000/v1.0/secrets")
    assert started.status_code == 302
    assert started.headers["Location"].startswith(f"{provider.url}/authorize?")
    assert f"client_id={provider.client.client_id}" in started.headers["Location"]  # from auth.user
    described = client.get("/v1/commands/who/whoAmI").get_json()
    assert described["parameters_schema"]["properties"]["token_secret"]["default"] == "user"
    granted = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(provider.client.client_id, provider.client.client_secret),
        timeout=10,
    ).json()  # a token the provider honours, as a sign-in's set would carry one
    token_set = {"access_token": granted["access_token"], "expires_at": time.time() + 600}
    answer = completed(client, "who/whoAmI", token_set=token_set)
    assert answer["error"] is None, answer
    assert answer["command_response"]["body"]["sub"] == "alice"
    expired = completed(client, "who/whoAmI", token_set={"access_token": "old", "expires_at": 1})
    assert expired["error"]["error_code"] == "TokenSetInvalid"
