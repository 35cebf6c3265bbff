"""A running job's lease, on both stores: one suite. A job whose runner stops renewing is queued
again; the runner that lost it writes nothing more (a job never finishes twice); a dead process's jobs
are queued again at once; readiness, /v1/operations and /metrics show the recovery.

The stores are used as the job threads and Celery tasks use them (claim, save, renew), so each rule
is seen where it is kept: in the SQLite file's transactions and in Redis' scripts.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from connector_proxy.config import JobSettings
from connector_proxy.jobs.model import QUEUED, RUNNING, SUCCEEDED, Job
from connector_proxy.jobs.sqlite import SqliteJobStore
from connector_proxy.stores.leases import LeaseLost, new_owner
from tests.support import TEST_CONFIG, client_from, redis_or_skip, wait_until

REDIS_URL = os.environ.get("CONNECTOR_PROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
LEASE = 3.0  # the shortest jobs.lease_seconds allowed


class Stores:
    """A store of one backend, and how a worker of that backend claims a queued job."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.prefix = f"cp-test-{uuid.uuid4().hex[:8]}"
        self.settings = JobSettings(
            backend=name, lease_seconds=LEASE, redis_url=REDIS_URL, redis_prefix=self.prefix
        )
        if name == "celery":
            from connector_proxy.jobs.celery_backend import RedisJobStore

            self.store: Any = RedisJobStore(self.settings)
        else:
            self.store = SqliteJobStore(self.settings, tmp_path / "jobs.sqlite3")

    def queued(self) -> Job:
        job, _ = self.store.create_or_join(Job("sample/Sleep", {"seconds": 1}, None, None))
        return job  # type: ignore[no-any-return]

    def claim(self, job_id: str, owner: str) -> Job | None:
        if self.name == "celery":
            claimed: Job | None = self.store.claim(job_id, owner)
            if claimed is not None:
                self.store.save(claimed)
            return claimed
        return self.store.claim_job(owner)  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "celery"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "celery":
        redis_or_skip(REDIS_URL)
    chosen = Stores(request.param, tmp_path)
    yield chosen
    if request.param == "celery":
        client = redis.Redis.from_url(REDIS_URL)
        ours = list(client.scan_iter(match=f"{chosen.prefix}*", count=1000))
        if ours:
            client.delete(*ours)


def _finish(job: Job) -> None:
    job.finish(200, {"command_response": {"body": {}, "mimetype": "application/json"}, "error": None})


def test_a_job_whose_runner_stops_renewing_is_queued_again_and_its_stale_runner_writes_nothing(
    stores: Stores,
) -> None:
    store, first, second = stores.store, new_owner(), new_owner()
    job_id = stores.queued().id
    claimed_at = time.time()
    stale = stores.claim(job_id, first)
    assert stale is not None and stale.state == RUNNING

    assert store.requeue_lost() == []  # its lease holds
    # nothing renews it: queued again once the lease has run out, and not before
    assert wait_until(store.requeue_lost, LEASE + 20, "the lease running out") == [job_id]
    assert time.time() >= claimed_at + LEASE
    assert store.requeue_lost() == []  # once
    assert (store.get(job_id).state, store.recovering()) == (QUEUED, 1)

    fresh = stores.claim(job_id, second)
    assert fresh is not None and (fresh.attempts, store.recovering()) == (2, 0)
    assert stores.claim(job_id, first) is None  # never twice at once
    _finish(stale)
    with pytest.raises(LeaseLost):
        store.save(stale)  # the runner that lost its lease cannot finish the job
    assert store.get(job_id).state == RUNNING
    _finish(fresh)
    store.save(fresh)
    assert store.get(job_id).state == SUCCEEDED
    assert store.recoveries()["lease_expired"] == 1


def test_a_renewed_lease_holds_and_a_dead_process_loses_its_jobs_at_once(stores: Stores) -> None:
    store, owner = stores.store, new_owner()
    job_id = stores.queued().id
    assert stores.claim(job_id, owner) is not None
    for _ in range(4):  # past the lease, renewed as the heartbeat does
        time.sleep(1)  # a duration, not an event: the heartbeat's interval, four of which outlast the lease
        store.renew(owner, [job_id], LEASE)
    assert store.requeue_lost() == []
    host, pid = owner.split(":")[0], int(owner.split(":")[1])

    assert store.requeue_lost((host, pid + 1)) == []  # another process's death
    assert store.requeue_lost((host, pid)) == [job_id]
    assert store.recoveries()["worker_exited"] == 1


def test_readiness_operations_and_metrics_show_jobs_recovered_from_a_dead_worker(tmp_path: Path) -> None:
    """Through the app: a job run by a process that is gone, as gunicorn's master reports it."""
    only_ours = "[discovery]\nenable_unlisted = false\n[connectors.sample]\nenabled = true\n"
    client = client_from(tmp_path, only_ours + "[connectors.http]\nenabled = true\n" + TEST_CONFIG)
    state = client.application.extensions["connector_proxy"]
    store: SqliteJobStore = state.jobs.store
    store.create_or_join(Job("sample/Sleep", {"seconds": 1}, None, None))
    owner = new_owner()
    assert store.claim_job(owner) is not None
    assert client.get("/v1/readiness").get_json()["degraded"] == []

    assert state.jobs.worker_gone(int(owner.split(":")[1])) == 1

    ready = client.get("/v1/readiness")
    assert ready.status_code == 200
    assert [(d["component"], d["state"]) for d in ready.get_json()["degraded"]] == [("jobs", "recovering")]
    assert client.get("/v1/operations").get_json()["attention"]["recovering_jobs"] == 1
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'connector_proxy_jobs_recovered_total{reason="worker_exited"} 1.0' in scraped


def test_a_lease_shorter_than_three_seconds_is_refused() -> None:
    from connector_proxy.config import ConfigError
    from connector_proxy.config.jobs import check_jobs

    with pytest.raises(ConfigError, match=r"jobs\.lease_seconds"):
        check_jobs(dataclasses.replace(JobSettings(), lease_seconds=1))


def test_a_job_a_dead_celery_worker_claimed_but_never_started_is_let_go(stores: Stores) -> None:
    if stores.name != "celery":
        pytest.skip("a SQLite claim starts the job in the same transaction")
    store, owner = stores.store, new_owner()
    job_id = stores.queued().id
    assert store.claim(job_id, owner) is not None  # claimed; the process dies before saving it running
    assert store.claim(job_id, new_owner()) is None
    host, pid = owner.split(":")[0], int(owner.split(":")[1])

    assert store.requeue_lost((host, pid)) == [job_id]  # its task is sent again

    assert store.claim(job_id, new_owner()) is not None
    assert store.recoveries()["worker_exited"] == 0  # it never started: nothing was recovered
