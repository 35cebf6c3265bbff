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
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector_proxy.sdk.testing import MessageHost
from tests.support import TEST_ENV, Daemon

SECRET = "full-disk-webhook-secret-0123456789"
LEFT = 256 * 1024  # bytes left free: room for a probe row, not for an event


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"CI runs this test, but a tmpfs cannot be mounted: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill_but(folder: Path, left: int) -> Path:
    """Fill the disk, then give ``left`` bytes back."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush (and fail) at close
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass  # full
    os.truncate(filler, max(0, filler.stat().st_size - left))
    return filler


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
            filler = _fill_but(small_disk, LEFT)
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
