"""A store that cannot write, through the real daemon: its job store on a tmpfs this test fills.

An async call and a webhook are answered 503 StoreUnavailable (declared, transient, nothing kept)
and readiness says the store cannot write; once there is room again both work. Needs to mount a
tmpfs (root): skipped with the reason otherwise, except in CI.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector_proxy.testing import MessageHost
from tests.support import TEST_CONFIG, TEST_ENV, Daemon, fill, small_tmpfs

SECRET = "full-disk-webhook-secret-0123456789"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", 8) as folder:
        yield folder


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_a_full_disk_is_a_declared_transient_503_and_readiness_says_so(
    small_disk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "plugins.toml"
    with MessageHost() as host:
        config.write_text(
            "[server]\nworkers = 1\n[discovery]\nenable_unlisted = false\n"
            "[connectors.sample]\nenabled = true\n[connectors.http]\nenabled = true\n"
            f'[jobs]\nsqlite_path = "{small_disk / "jobs.sqlite3"}"\n'
            f'[events]\nhost_url = "{host.url}"\n'
            '[subscriptions.orders]\ntrigger = "http/webhook"\nmessage = "order"\n'
            f'settings.secret = "{SECRET}"\n' + TEST_CONFIG
        )
        with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
            assert requests.get(f"{daemon.url}/v1/readiness", timeout=5).status_code == 200
            filler = fill(small_disk)
            big = {"name": "Ada", "spiff__task_data": {"blob": "x" * 400_000}}
            accepted = requests.post(
                f"{daemon.url}/v1/do/sample/Greet", json=big, headers={"Prefer": "respond-async"}, timeout=10
            )
            body = json.dumps({"id": 1, "blob": "y" * 300_000}).encode()
            webhook = requests.post(
                f"{daemon.url}/v1/inbound/http/webhook/orders", data=body, headers=_signed(body), timeout=10
            )
            not_ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)
            filler.unlink()
            time.sleep(0.2)
            again = requests.post(
                f"{daemon.url}/v1/do/sample/Greet", json=big, headers={"Prefer": "respond-async"}, timeout=10
            )
            ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)

    for answer in (accepted, webhook):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["error_code"] == "StoreUnavailable"
        assert "full" in answer.json()["error"]["message"]
    assert not_ready.status_code == 503
    assert [p["component"] for p in not_ready.json()["error"]["details"]] == ["jobs"]
    assert again.status_code == 202 and ready.status_code == 200, ready.text
