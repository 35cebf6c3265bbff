"""Polling triggers end to end: the os connector's ``file_appeared`` under the real daemon, across a
SIGKILL, and across two daemons sharing one Redis (one poller per subscription, by lease)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from connector_proxy.testing import MessageHost
from tests.events.test_contract import REDIS_URL
from tests.support import Daemon, polled_again, redis_or_skip

API_KEY = "proxy-api-key-0123456789"
KEYED = {"Spiff-Connector-Proxy-Api-Key": API_KEY}


def config(folder: Path, host: MessageHost, jobs: str = "") -> Path:
    drop = folder / "drop"
    (drop / "in").mkdir(parents=True, exist_ok=True)
    (drop / "tmp").mkdir(exist_ok=True)
    path = folder / "plugins.toml"
    path.write_text(
        f'[server]\nworkers = 2\n[auth]\napi_keys = ["{API_KEY}"]\n'
        f'[jobs]\nsqlite_path = "{folder / "jobs.sqlite3"}"\n{jobs}\n'
        "[discovery]\nenable_unlisted = false\n"
        f'[connectors.os.config]\nroots = ["{drop}"]\n'
        f'[events]\nhost_url = "{host.url}"\nlease_seconds = 3\npoll_timeout = 2\n'
        "[subscriptions.invoices]\n"
        'trigger = "os/file_appeared"\nmessage = "invoice_arrived"\ninterval = 0.2\n'
        f'settings = {{ directory = "{drop / "in"}", pattern = "*.csv" }}\n'
        'payload = { name = "/name", size = "/size" }\n'
    )
    return path


class Producer:
    """Drops ``count`` files into the watched directory, one every ``every`` seconds, each written
    elsewhere and renamed in (whole when seen); and a file the pattern does not match."""

    def __init__(self, folder: Path, count: int, every: float) -> None:
        self.names = [f"invoice-{n:03}.csv" for n in range(count)]
        self._folder, self._every = folder / "drop", every
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.done = threading.Event()

    def start(self) -> Producer:
        self._thread.start()
        return self

    def _run(self) -> None:
        (self._folder / "in" / "notes.txt").write_text("not an invoice")
        for name in self.names:
            staged = self._folder / "tmp" / name
            staged.write_text(f"{name},100.00\n")
            os.rename(staged, self._folder / "in" / name)
            time.sleep(self._every)  # a duration, not an event: files arrive at a pace
        self.done.set()


def test_no_file_is_lost_or_delivered_twice_across_a_sigkill(tmp_path: Path) -> None:
    with MessageHost() as host:
        path = config(tmp_path, host)
        producer = Producer(tmp_path, count=60, every=0.03)
        first = Daemon(path, {}, tmp_path / "first.log")
        first.wait_ready()
        producer.start()
        host.wait_for(10)
        first.kill()  # SIGKILL, master and workers, mid-stream: no chance to clean up
        assert not producer.done.is_set(), "the daemon must die while files still arrive"
        time.sleep(0.3)  # a duration, not an event: files keep arriving while no daemon runs
        with Daemon(path, {}, tmp_path / "second.log") as second:
            messages = host.wait_for(60, seconds=30)
            polled_again(second.url, "invoices", headers=KEYED)  # anything sent twice would be sent by now
            events = requests.get(
                f"{second.url}/v1/events?limit=1000",
                headers={"Spiff-Connector-Proxy-Api-Key": API_KEY},
                timeout=5,
            ).json()["events"]

    names = [message.payload["name"] for message in host.messages]
    assert sorted(names) == producer.names  # every file once: none lost, none twice, notes.txt never
    assert all(
        m.name == "invoice_arrived" and m.payload["size"] == len(f"{m.payload['name']},100.00\n")
        for m in messages
    )
    assert len(events) == 60 and {e["state"] for e in events} == {"delivered"}
    assert {e["id"] for e in events} == {m.message_instance_uuid for m in host.messages}


@pytest.fixture
def shared_redis() -> Iterator[str]:
    prefix = f"cp-poll-test-{uuid.uuid4().hex[:8]}"
    client = redis_or_skip(REDIS_URL)
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):  # only what this test made
        client.delete(key)


def test_two_daemons_sharing_redis_poll_each_subscription_once(tmp_path: Path, shared_redis: str) -> None:
    jobs = f'backend = "celery"\nredis_url = "{REDIS_URL}"\nredis_prefix = "{shared_redis}"\n'
    with MessageHost() as host:
        path = config(tmp_path, host, jobs)
        with Daemon(path, {}, tmp_path / "a.log") as one, Daemon(path, {}, tmp_path / "b.log") as other:
            producer = Producer(tmp_path, count=40, every=0.02).start()
            host.wait_for(40, seconds=30)
            time.sleep(1)  # a duration, not an event: a quiet window for a second poller's events
            holder = redis.Redis.from_url(REDIS_URL, decode_responses=True).get(
                f"{shared_redis}:poller:invoices:lease"
            )
            pids = {*one.worker_pids(), *other.worker_pids()}

    assert producer.done.is_set()
    assert sorted(m.payload["name"] for m in host.messages) == producer.names
    assert host.attempts == 40  # each message sent once: no second poller made events of its own
    assert holder is not None and int(str(holder).split(":")[1]) in pids  # one worker of the four
