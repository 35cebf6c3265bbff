"""The Celery backend through its faults: the daemon under gunicorn, ``connector-proxy worker`` and a
redis-server of the test's own (``appendonly yes``, as docs/operating.md tells operators).

``kill -9`` of the Celery worker mid-job: its supervisor starts another, which queues the dead one's
jobs again at once; each is delivered once. Redis killed and started again: readiness is 503 while it
is away (a call that needs it is 503 StoreUnavailable, quickly), and every job queued before the
outage runs once it is back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.testing import start_owned, start_seconds
from tests.faults.support import (
    ASYNC,
    RedisServer,
    children,
    delivered_once_each,
    recovered,
    running,
    send,
    wait_until,
)
from tests.support import CLI, SITE, TEST_ENV, Daemon

LEASE = 4


class Deployment:
    """A Redis of its own, the configuration naming it, and ``connector-proxy worker`` beside the daemon."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "redis").mkdir()
        self.redis = RedisServer(folder / "redis")
        self.config = folder / "plugins.toml"
        self.config.write_text(
            "[server]\nworkers = 1\ngraceful_timeout = 10\n"
            "[discovery]\nenable_unlisted = false\n[connectors.sample]\nenabled = true\n"
            '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
            f'[jobs]\nbackend = "celery"\nredis_url = "{self.redis.url}"\nlease_seconds = {LEASE}\n'
            'callback_allow = ["127.0.0.1"]\n'
        )
        self.worker = start_owned(
            [*CLI, "worker", "--config", str(self.config), "--concurrency", "2"],
            env={**os.environ, **TEST_ENV, "PYTHONPATH": str(SITE)},
            stdout=(folder / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
            # its own group (start_owned): the supervisor, the Celery worker and what they start
        )

    def celery_pid(self) -> int:
        """The supervised Celery worker (the supervisor's one child), once it is up."""
        found = wait_until(lambda: children(self.worker.pid), start_seconds(), "a Celery worker")
        return int(found[0])

    def close(self) -> None:
        if self.worker.poll() is None:
            self.worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)  # whatever of the group is left
        self.worker.wait()
        self.redis.stop()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(tmp_path)
    yield made
    made.close()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running_receiver = CallbackReceiver()
    yield running_receiver
    running_receiver.close()


def test_jobs_of_a_celery_worker_killed_mid_job_run_again_and_each_is_delivered_once(
    deployment: Deployment, receiver: CallbackReceiver
) -> None:
    with Daemon(deployment.config, TEST_ENV, deployment.folder / "daemon.log") as daemon:
        first = deployment.celery_pid()
        send(daemon, receiver, 6, seconds=2)
        wait_until(lambda: running(daemon) == 2, 30, "two jobs running")
        os.kill(first, signal.SIGKILL)

        delivered_once_each(receiver, 6, seconds=60)
        assert recovered(daemon, "worker_exited") == 2
        second = deployment.celery_pid()
        assert second != first  # the supervisor started another

    deployment.worker.terminate()  # passed on to the Celery worker: both end
    assert deployment.worker.wait(timeout=30) == 0
    assert not Path(f"/proc/{second}").exists()


def test_redis_killed_and_started_again_readiness_says_so_and_queued_jobs_run(
    deployment: Deployment, receiver: CallbackReceiver
) -> None:
    with Daemon(deployment.config, TEST_ENV, deployment.folder / "daemon.log") as daemon:
        deployment.celery_pid()
        send(daemon, receiver, 5, seconds=2)  # two run, three wait in the queue
        wait_until(lambda: running(daemon) == 2, 30, "two jobs running")
        deployment.redis.kill()

        started = time.monotonic()
        not_ready = requests.get(f"{daemon.url}/v1/readiness", timeout=30)
        refused = requests.post(
            f"{daemon.url}/v1/do/sample/Sleep", json={"seconds": 0}, headers=ASYNC, timeout=30
        )
        answered_in = time.monotonic() - started
        time.sleep(3)  # a duration, not an event: the outage lasts a while before Redis comes back
        deployment.redis.start()

        wait_until(
            lambda: requests.get(f"{daemon.url}/v1/readiness", timeout=30).status_code == 200,
            30,
            "readiness 200 again",
        )
        delivered_once_each(receiver, 5, seconds=LEASE + 90)

    assert not_ready.status_code == 503
    [problem] = not_ready.json()["error"]["details"]
    assert (problem["component"], problem["state"]) == ("jobs", "unreachable")
    assert refused.status_code == 503
    assert refused.json()["error"]["error_code"] == "StoreUnavailable"
    assert answered_in < 25  # Redis' 5 s timeouts, not a hang


def test_a_redis_refusing_writes_makes_readiness_503_cannot_write_until_it_takes_them(
    deployment: Deployment,
) -> None:
    admin = redis.Redis.from_url(deployment.redis.url)
    with Daemon(deployment.config, TEST_ENV, deployment.folder / "daemon.log") as daemon:
        assert requests.get(f"{daemon.url}/v1/readiness", timeout=30).status_code == 200
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # every write is refused with OOM; PING still answers
        try:
            not_ready = requests.get(f"{daemon.url}/v1/readiness", timeout=30)
            refused = requests.post(
                f"{daemon.url}/v1/do/sample/Sleep", json={"seconds": 0}, headers=ASYNC, timeout=30
            )
        finally:
            admin.config_set("maxmemory", 0)
        ready = requests.get(f"{daemon.url}/v1/readiness", timeout=30)

    assert not_ready.status_code == 503
    [problem] = not_ready.json()["error"]["details"]
    assert (problem["component"], problem["state"]) == ("jobs", "cannot_write")
    assert refused.status_code == 503
    assert refused.json()["error"]["error_code"] == "StoreUnavailable"
    assert ready.status_code == 200
