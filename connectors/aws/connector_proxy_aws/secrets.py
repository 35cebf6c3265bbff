"""``aws-sm:<secret id or ARN>[#<key>]``: secrets kept in AWS Secrets Manager.

Registered in the ``connector_proxy.secret_providers`` entry-point group, so any
secret of ``plugins.toml`` may live there once this package is installed. With
``#key`` the secret is a JSON object and the value is that key's. The region,
endpoint and credentials come from the daemon's environment as AWS tools read
them: ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL_SECRETS_MANAGER``
(or ``AWS_ENDPOINT_URL``), and the usual credential chain.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from connector_proxy.secrets import SecretReferenceError

SETTINGS = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})


class SecretsManager:
    """Reads a secret's current value at each resolve; the daemon decides how long to keep it."""

    def __init__(self) -> None:
        self._clients: dict[tuple[int, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    def resolve(self, reference: str, environ: Mapping[str, str]) -> str:
        secret_id, _, key = reference.partition("#")
        named = f"aws-sm:{secret_id}"
        try:
            answer = self._client(environ).get_secret_value(SecretId=secret_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            raise SecretReferenceError(f"{named}: Secrets Manager answered {code}") from None
        except BotoCoreError as error:
            raise SecretReferenceError(
                f"{named}: Secrets Manager could not be asked ({type(error).__name__})"
            ) from None
        text = answer.get("SecretString")
        if text is None:
            text = bytes(answer.get("SecretBinary") or b"").decode("utf-8", errors="replace")
        return _key_of(named, text, key) if key else text

    def _client(self, environ: Mapping[str, str]) -> Any:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        endpoint = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL")
        key = (os.getpid(), region, endpoint)  # a client must not cross a fork
        with self._lock:
            if key not in self._clients:
                session = boto3.session.Session(
                    aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
                    aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
                    aws_session_token=environ.get("AWS_SESSION_TOKEN"),
                    region_name=region,
                )
                self._clients[key] = session.client("secretsmanager", endpoint_url=endpoint, config=SETTINGS)
            return self._clients[key]


def _key_of(named: str, text: str, key: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        raise SecretReferenceError(f"{named}#{key}: the secret is not a JSON object") from None
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise SecretReferenceError(f"{named}#{key}: the secret has no text or number under {key!r}")
    return str(value)


secrets_manager = SecretsManager()
