"""A full disk under the SQLite store, through the real daemon: the file on a small tmpfs the test fills.

Filled to within a few hundred KiB, a probe row still fits (SQLite reuses its pages) while an event
or a job does not: readiness must say ``cannot_write`` all the same (the disk's free space, and the
failed write itself), every write answers 503 StoreUnavailable, and both come right once there is
room. Mounting a tmpfs needs root: skipped with the reason otherwise, except in CI.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector_proxy.testing import MessageHost
from tests.support import TEST_ENV, Daemon, fill, small_tmpfs

SECRET = "full-disk-webhook-secret-0123456789"
LEFT = 256 * 1024  # bytes left free: room for a probe row, not for an event


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", 4) as folder:
        yield folder


def _webhook(daemon: Daemon, size: int) -> requests.Response:
    body = json.dumps({"id": size, "blob": "y" * size}).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    return requests.post(
        f"{daemon.url}/v1/inbound/http/webhook/orders", data=body, headers=headers, timeout=10
    )


def test_an_almost_full_disk_makes_readiness_503_and_every_write_a_declared_503(
    small_disk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "plugins.toml"
    with MessageHost() as host:
        config.write_text(
            "[server]\nworkers = 1\n[discovery]\nenable_unlisted = false\n"
            "[connectors.sample]\nenabled = true\n[connectors.http]\nenabled = true\n"
            '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
            f'[jobs]\nsqlite_path = "{small_disk / "jobs.sqlite3"}"\n'
            f'[events]\nhost_url = "{host.url}"\n'
            '[subscriptions.orders]\ntrigger = "http/webhook"\nmessage = "order"\n'
            f'settings.secret = "{SECRET}"\n'
        )
        with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
            assert requests.get(f"{daemon.url}/v1/readiness", timeout=5).status_code == 200
            filler = fill(small_disk, leave=LEFT)
            event = _webhook(daemon, 600_000)
            job = requests.post(
                f"{daemon.url}/v1/do/sample/Greet",
                json={"name": "Ada", "spiff__task_data": {"blob": "x" * 600_000}},
                headers={"Prefer": "respond-async"},
                timeout=10,
            )
            not_ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)
            filler.unlink()
            event_again = _webhook(daemon, 600_000)
            ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)

    for refused in (event, job):
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["error_code"] == "StoreUnavailable"
    assert not_ready.status_code == 503
    [problem] = not_ready.json()["error"]["details"]
    assert (problem["component"], problem["state"]) == ("jobs", "cannot_write")
    assert event_again.status_code in (200, 202), event_again.text
    assert ready.status_code == 200, ready.text
