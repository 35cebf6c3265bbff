"""An OpenAPI document's OAuth 2 client credentials scheme, against a real provider on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector_proxy.sdk.testing import app_client, completed
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
