"""What the fault tests share: a redis-server of their own, jobs sent and their callbacks counted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
import requests

from connector_proxy.sdk.testing import CallbackReceiver, free_port
from connector_proxy.testing import start_owned, start_seconds
from tests.support import Daemon, wait_until

__all__ = ["wait_until"]  # where the fault tests have always found it

ASYNC = {"Prefer": "respond-async"}


class RedisServer:
    """A redis-server on a free port with its data in ``folder``, kept as an operator is told to
    (``appendonly yes``): started, killed and started again by the test, never the shared one."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                raise AssertionError("CI runs the fault tests, but redis-server is not installed")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = start_owned(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",  # the test kills it: nothing written may be lost
                "--save",
                "",
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + start_seconds()
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


def send(daemon: Daemon, receiver: CallbackReceiver, count: int, seconds: float) -> list[str]:
    """``count`` async sample/Sleep jobs, each with its own callback path; their ids."""
    ids = []
    for n in range(count):
        payload = {
            "seconds": seconds,
            "spiff__task_id": str(uuid.uuid4()),
            "spiff__callback_url": f"{receiver.url}/callback/{n}",
        }
        answer = requests.post(f"{daemon.url}/v1/do/sample/Sleep", json=payload, headers=ASYNC, timeout=30)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["command_response"]["body"]["job_id"])
    return ids


def running(daemon: Daemon) -> int:
    jobs = requests.get(f"{daemon.url}/v1/jobs?state=running", timeout=10).json()["jobs"]
    return len(jobs)


def delivered_once_each(receiver: CallbackReceiver, count: int, seconds: float) -> None:
    """Every job's callback arrived, and none twice (a job never finishes twice)."""
    receiver.wait_for(count, seconds=seconds)
    time.sleep(1)  # a duration, not an event: a quiet window in which a second callback would come
    paths = Counter(path for path, _ in receiver.received)
    assert sorted(paths) == sorted(f"/callback/{n}" for n in range(count)), paths
    assert set(paths.values()) == {1}, paths


def recovered(daemon: Daemon, reason: str) -> float:
    """connector_proxy_jobs_recovered_total{reason} as /metrics shows it."""
    text = requests.get(f"{daemon.url}/metrics", timeout=10).text
    line = f'connector_proxy_jobs_recovered_total{{reason="{reason}"}} '
    values = [float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)]
    return values[0] if values else 0.0


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
