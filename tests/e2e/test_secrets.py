"""Secrets kept in AWS Secrets Manager (moto's server over HTTP), through the real daemon.

The ``aws-sm:`` scheme is a provider of the ``connector_proxy.secret_providers`` entry-point group,
registered by the aws connector's package as any third party would. A secret rotated there is in
use by the next call after ``secrets.cache_seconds``, in-process and isolated alike; a provider that
fails names the reference, never a value, and the values read before stay in use.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from connector_proxy.secrets import GROUP, schemes
from connector_proxy.testing import moto_server
from connector_proxy.web.auth import HEADER
from tests.support import TEST_ENV, Daemon, wait_until

FIRST, SECOND = "first-token-0123456789", "second-token-0123456789"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


def aws_environment(moto: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDSECRETS",
        "AWS_SECRET_ACCESS_KEY": "moto-accepts-any-0123",
    }


def manager(moto: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1", **_keys())


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "AKIDSECRETS", "aws_secret_access_key": "moto-accepts-any-0123"}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def token_in_use(daemon: Daemon, api_key: str | None = None) -> dict[str, Any]:
    headers = {HEADER: api_key} if api_key else {}
    answer = requests.post(
        f"{daemon.url}/v1/do/sample/TokenDigest", json={}, headers=headers, timeout=30
    ).json()
    assert answer["error"] is None, answer
    body: dict[str, Any] = answer["command_response"]["body"]
    return body


# long enough that the call right after the rotation still falls inside it on a busy machine (with 1 s,
# two CPU hogs beside the suite let the rotated value in before that call once)
CACHE_SECONDS = 3


def wait_for_digest(
    daemon: Daemon, wanted: str, seconds: float = 10, api_key: str | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (seen := token_in_use(daemon, api_key))["digest"] != wanted:
        assert time.monotonic() < deadline, f"{wanted} never came into use"
        time.sleep(0.2)
    return seen


def test_the_provider_is_an_entry_point_like_any_other() -> None:
    assert {"env", "file", "aws-sm"} <= set(schemes())
    assert schemes()["aws-sm"].group == GROUP


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_a_rotated_secret_is_used_after_its_cache_time_without_a_restart(
    tmp_path: Path, moto: str, isolated: bool
) -> None:
    name = f"sample/token-{tmp_path.name}"
    manager(moto).create_secret(Name=name, SecretString=f'{{"token": "{FIRST}"}}')
    config = tmp_path / "plugins.toml"
    worker = f'python = "{sys.executable}"\nworkers = 1\n' if isolated else ""
    config.write_text(
        f"[server]\nworkers = 1\n[secrets]\ncache_seconds = {CACHE_SECONDS}\n[connectors.sample]\n{worker}"
        f'[connectors.sample.config]\ntoken = "aws-sm:{name}#token"\n'
    )
    with Daemon(config, aws_environment(moto), tmp_path / "daemon.log") as daemon:
        before = token_in_use(daemon)
        manager(moto).put_secret_value(SecretId=name, SecretString=f'{{"token": "{SECOND}"}}')
        cached = token_in_use(daemon)  # within the cache time: the value read before
        rotated = wait_for_digest(daemon, digest(SECOND))
        manager(moto).delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

        def read_after_loss() -> dict[str, Any] | None:
            """A call's token once the cache time has passed and the provider failed to read it again."""
            seen = token_in_use(daemon)
            return seen if "its secrets could not be read again" in daemon.log.read_text() else None

        # the provider fails now: what worked keeps working
        after_loss = wait_until(read_after_loss, CACHE_SECONDS + 20, "the deleted secret read again")
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}

    assert before["digest"] == cached["digest"] == digest(FIRST)
    assert rotated["digest"] == after_loss["digest"] == digest(SECOND)
    if isolated:  # the worker configured with the old token was replaced between calls
        assert rotated["pid"] != before["pid"]
    assert shown["sample"]["config"]["token"] == "********"
    log = (tmp_path / "daemon.log").read_text()
    assert f"its secrets could not be read again (aws-sm:{name}: Secrets Manager answered" in log
    assert FIRST not in log and SECOND not in log


def test_a_reference_that_cannot_be_read_names_itself_and_leaves_the_connector_out(
    tmp_path: Path, moto: str
) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text('[connectors.sample.config]\ntoken = "aws-sm:nowhere/to-be-found"\n')
    with Daemon(config, {**TEST_ENV, **aws_environment(moto)}, tmp_path / "daemon.log") as daemon:
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}

    assert shown["sample"]["state"] == "config_error"
    assert shown["sample"]["detail"] == (
        "aws-sm:nowhere/to-be-found: Secrets Manager answered ResourceNotFoundException"
    )
