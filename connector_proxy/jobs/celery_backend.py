"""Celery on Redis: any daemon accepts a call, any worker runs it and delivers it, any daemon answers a poll.

Jobs are kept in Redis (one JSON record per job, sorted sets per state), so
every daemon instance and worker sees the same ones. Start workers with
``connector-proxy worker``. Tasks are acknowledged late: a worker that dies
mid-run has its job run again by another (at least once).
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from collections.abc import Collection
from typing import Any, cast

import redis
from celery import Celery

from connector_proxy.config import JobSettings
from connector_proxy.jobs.model import FINISHED, PENDING, QUEUED, RUNNING, STATES, WAITING, Job, refusal
from connector_proxy.jobs.runner import JobRunner
from connector_proxy.jobs.store import LEASE_EXPIRED, RECOVERY_REASONS, WORKER_EXITED
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.leases import HOLD, RELEASE, RENEW_EVERY, LeaseLost, owner_pid
from connector_proxy.stores.redis_indexes import TIMEOUT as REDIS_TIMEOUT
from connector_proxy.stores.redis_indexes import counts_by_state, newest, redis_client

log = logging.getLogger(__name__)
RUN, DELIVER, EXPIRE = (
    "connector_proxy.run_job",
    "connector_proxy.deliver_result",
    "connector_proxy.expire_job",
)
BY_WORKER, BY_CANCEL = "worker", "cancel"  # who took a queued job first (its first-start marker)
SWEEP_EVERY = 2.0  # seconds between looks for running jobs whose lease ran out
# KEYS: the job's lease, the queued index, the recovering index. ARGV: owner, milliseconds, job id.
# 1 if the job was queued and nobody held its lease: it is the owner's now.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
"""


class RedisJobStore:
    """Job records in Redis; what both sides of Celery read and write."""

    def __init__(self, settings: JobSettings) -> None:
        self.redis = redis_client(settings.redis_url)
        self.lease_ms = int(settings.lease_seconds * 1000)
        self._claim = self.redis.register_script(CLAIM)
        self._hold = self.redis.register_script(HOLD)
        self._release = self.redis.register_script(RELEASE)
        self.sealer = Sealer(settings.encryption_keys)
        self.keep = int(settings.keep_finished)
        # a record outlives its job's creation by at most this: run, deliver (each save renews it), keep
        self.longest_life = settings.command_timeout + settings.delivery_give_up_after + self.keep
        self.prefix = settings.redis_prefix

    def create_or_join(self, job: Job) -> tuple[Job, bool]:
        if job.task_id is not None:
            task_key = f"{self.prefix}:task:{job.task_id}"
            if not self.redis.set(task_key, job.id, nx=True, ex=self.keep):
                current = self.get(_text(self.redis.get(task_key)))
                if current is not None and not current.finished:
                    return current, True
                self.redis.set(task_key, job.id, ex=self.keep)  # that job is over: this one takes the task
        self.save(job)
        return job, False

    def save(self, job: Job, delivering: bool = False) -> None:
        """``delivering`` needs nothing here: a delivery is a task, taken by one worker at a time."""
        if job.runner is not None:
            self._save_leased(job, job.runner)
            return
        with self.redis.pipeline() as batch:
            self._write(batch, job)
            batch.execute()

    def _save_leased(self, job: Job, owner: str) -> None:
        """Written only while ``owner`` holds the job's lease (WATCHed: a lease renewed meanwhile is
        tried again); a job leaving ``running`` gives its lease up."""
        lease, releasing = self._lease(job.id), job.state != RUNNING
        for _ in range(5):
            with self.redis.pipeline() as batch:
                try:
                    batch.watch(lease)  # type: ignore[no-untyped-call]
                    if batch.get(lease) != owner.encode():
                        raise LeaseLost(f"job {job.id}: its lease passed to another process")
                    job.runner = None if releasing else owner
                    batch.multi()
                    self._write(batch, job)
                    if releasing:
                        batch.delete(lease)
                    batch.execute()
                    return
                except redis.WatchError:  # renewed by the heartbeat between the read and the write
                    job.runner = owner
        raise LeaseLost(f"job {job.id}: its lease kept changing under the write")

    def _write(self, batch: Any, job: Job) -> None:
        batch.set(self._key(job.id), job.to_json(self.sealer), ex=self.keep if job.finished else None)
        batch.zadd(f"{self.prefix}:jobs", {job.id: job.created_at})
        for state in STATES:
            batch.zrem(f"{self.prefix}:jobs:{state}", job.id)
        batch.zadd(f"{self.prefix}:jobs:{job.state}", {job.id: job.created_at})
        if job.state != QUEUED:
            batch.zrem(self._recovering, job.id)
        if job.finished and job.task_id is not None:
            batch.delete(f"{self.prefix}:task:{job.task_id}")  # the next call for the task starts anew

    def claim(self, job_id: str, owner: str) -> Job | None:
        """A queued job nobody holds, now started by ``owner`` (not yet saved); else None."""
        keys = [self._lease(job_id), f"{self.prefix}:jobs:{QUEUED}", self._recovering]
        if not self._claim(keys=keys, args=[owner, self.lease_ms, job_id]):
            return None
        job = self.get(job_id)
        if job is None or job.state != QUEUED:  # cancelled or expired just now
            self.release(job_id, owner)
            return None
        job.start()
        job.runner = owner
        return job

    def release(self, job_id: str, owner: str) -> None:
        self._release(keys=[self._lease(job_id)], args=[owner])

    def renew(self, owner: str, job_ids: Collection[str], seconds: float) -> None:
        with self.redis.pipeline(transaction=False) as batch:
            for job_id in job_ids:
                self._hold(keys=[self._lease(job_id)], args=[owner, int(seconds * 1000)], client=batch)
            batch.execute()

    def requeue_lost(self, dead: tuple[str, int] | None = None) -> builtins.list[str]:
        running = cast(builtins.list[bytes], self.redis.zrange(f"{self.prefix}:jobs:{RUNNING}", 0, -1))
        reason = LEASE_EXPIRED if dead is None else WORKER_EXITED
        lost = [raw.decode() for raw in running if self._requeue(raw.decode(), dead, reason)]
        return lost if dead is None else lost + self._unclaim(dead)

    def _unclaim(self, dead: tuple[str, int]) -> builtins.list[str]:
        """Queued jobs the ``dead`` process had claimed but not yet started (it died in between): their
        leases are let go, so a task sent again runs them now, not after Redis' visibility timeout."""
        queued = cast(builtins.list[bytes], self.redis.zrange(f"{self.prefix}:jobs:{QUEUED}", 0, -1))
        freed = []
        for job_id in (raw.decode() for raw in queued):
            holder = cast(bytes | None, self.redis.get(self._lease(job_id)))
            if holder is not None and owner_pid(holder.decode()) == dead:
                self.release(job_id, holder.decode())
                freed.append(job_id)
        return freed

    def _requeue(self, job_id: str, dead: tuple[str, int] | None, reason: str) -> bool:
        """Queue the running job again if its lease is gone (or held by the ``dead`` process); WATCHed,
        so a claim or a save meanwhile wins."""
        lease = self._lease(job_id)
        with self.redis.pipeline() as batch:
            try:
                batch.watch(lease, self._key(job_id))  # type: ignore[no-untyped-call]
                holder = cast(bytes | None, batch.get(lease))
                if (
                    (holder is not None)
                    if dead is None
                    else (holder is None or owner_pid(holder.decode()) != dead)
                ):
                    return False
                job = self.get_with(batch, job_id)
                if job is None or job.state != RUNNING:
                    return False
                job.state, job.runner = QUEUED, None
                batch.multi()
                self._write(batch, job)
                batch.delete(lease)
                batch.zadd(self._recovering, {job_id: job.created_at})
                batch.hincrby(f"{self.prefix}:jobs:recovered", reason, 1)
                batch.execute()
            except redis.WatchError:
                return False
        log.warning("job %s (%s): %s; queued again", job.id, job.command, RECOVERY_REASONS[reason])
        return True

    def get_with(self, client: Any, job_id: str) -> Job | None:
        data = client.get(self._key(job_id))
        return Job.from_json(cast(bytes, data), self.sealer) if data else None

    def recovering(self) -> int:
        return int(self.redis.zcard(self._recovering))

    def recoveries(self) -> dict[str, int]:
        stored = cast(dict[bytes, bytes], self.redis.hgetall(f"{self.prefix}:jobs:recovered"))
        return {reason: 0 for reason in RECOVERY_REASONS} | {k.decode(): int(v) for k, v in stored.items()}

    def settle(self, job: Job) -> bool:
        """The first to mark the job settled writes it: a relayed PUT, the command's answer, the expiry."""
        if not self.redis.set(f"{self.prefix}:settled:{job.id}", 1, nx=True, ex=int(self.longest_life)):
            return False
        self.save(job)
        return True

    def cancel(self, job: Job) -> bool:
        if not self.first_start(job.id, by=BY_CANCEL):
            return False
        self.save(job)
        return True

    def first_start(self, job_id: str, by: str = BY_WORKER) -> bool:
        """Who takes a queued job, a worker or a cancel: the first to ask. A worker asking again (its
        task redelivered after it died before saving the job) is let through."""
        key = f"{self.prefix}:started:{job_id}"
        if self.redis.set(key, by, nx=True, ex=int(self.longest_life)):
            return True
        return by == BY_WORKER and self.redis.get(key) == BY_WORKER.encode()

    def record_credentials(self, origin: str, refused_with: int | None) -> None:
        key = f"{self.prefix}:refused_credentials"
        if refused_with is None:
            self.redis.hdel(key, origin)
        else:
            self.redis.hset(key, origin, json.dumps([refused_with, time.time()]))

    def refused_credentials(self) -> dict[str, str]:
        stored = cast(dict[bytes, bytes], self.redis.hgetall(f"{self.prefix}:refused_credentials"))
        return {origin.decode(): refusal(*json.loads(value)) for origin, value in stored.items()}

    def get(self, job_id: str | None) -> Job | None:
        data = self.redis.get(self._key(job_id)) if job_id else None
        return Job.from_json(cast(bytes, data), self.sealer) if data else None

    def counts(self) -> dict[str, int]:
        """Finished jobs' records expire by themselves: ids surely expired leave the index first."""
        expired_before = time.time() - self.longest_life
        return counts_by_state(self.redis, f"{self.prefix}:jobs", STATES, FINISHED, expired_before)

    def ping(self) -> None:
        """A write, not a PING: a Redis at its maxmemory still answers PING but refuses writes."""
        self.redis.set(f"{self.prefix}:probe", time.time(), ex=60)

    def recover(self) -> int:
        """Nothing to do at the daemon's start: jobs run in ``connector-proxy worker``, whose processes
        queue again what a dead one ran (its lease, or at once when the worker's supervisor saw it die)."""
        return 0

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        index = f"{self.prefix}:jobs:{state}" if state else f"{self.prefix}:jobs"
        return [Job.from_json(data, self.sealer) for data in newest(self.redis, index, self._key, limit)]

    def _key(self, job_id: str | None) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _lease(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:lease"

    @property
    def _recovering(self) -> str:
        return f"{self.prefix}:jobs:recovering"


class CeleryDispatch:
    """The daemon's side: a kept job is sent to the workers as a task; they do the rest."""

    def __init__(self, settings: JobSettings) -> None:
        self.queue = settings.celery_queue
        self.app = celery_app(settings)

    def run(self, job: Job) -> None:
        self.app.send_task(RUN, args=[job.id], queue=self.queue)

    def deliver(self, job: Job) -> None:
        self.app.send_task(DELIVER, args=[job.id], queue=self.queue)

    def expire_later(self, job: Job, seconds: float) -> None:
        expire_later(self.app, job, seconds, self.queue)


def expire_later(app: Celery, job: Job, seconds: float, queue: str) -> None:
    """A waiting job is failed after ``seconds`` unless its relayed result came (the daemon's and the
    worker's way alike)."""
    app.send_task(EXPIRE, args=[job.id], countdown=seconds, queue=queue)


def celery_app(settings: JobSettings) -> Celery:
    app = Celery("connector_proxy", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        # a Redis that goes away is waited for, for ever (Celery's default gives up after 100 tries)
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=REDIS_TIMEOUT,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # acknowledged when done: a lost worker's job runs again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.command_timeout + 600,
            "socket_timeout": REDIS_TIMEOUT,
            "socket_connect_timeout": REDIS_TIMEOUT,
        },
        worker_hijack_root_logger=False,
    )
    return app


def worker_app(store: RedisJobStore, runner: JobRunner, settings: JobSettings) -> Celery:
    """The Celery app of ``connector-proxy worker``: its two tasks claim a job or a delivery
    and hand it to the runner every backend shares."""
    app = celery_app(settings)

    def retry_later(job: Job) -> None:
        if job.delivery.state == PENDING and job.delivery.next_at is not None:
            delay = max(0.0, job.delivery.next_at - time.time())
            app.send_task(DELIVER, args=[job.id], countdown=delay, queue=settings.celery_queue)

    @app.task(name=RUN)  # type: ignore[untyped-decorator]
    def run(job_id: str) -> None:
        owner = runner.owner
        job = store.claim(job_id, owner)
        if job is None:
            return  # done, running under another's lease, or a redelivered task of a finished job
        if job.attempts == 1 and not store.first_start(job_id):
            store.release(job_id, owner)
            return  # cancelled by an operator before it started
        store.save(job)
        runner.run(job)
        if job.state == WAITING:  # its command PUTs the result back through the relay
            expire_later(app, job, settings.command_timeout, settings.celery_queue)
        retry_later(job)

    @app.task(name=DELIVER)  # type: ignore[untyped-decorator]
    def deliver(job_id: str) -> None:
        job = store.get(job_id)
        if job is None or job.delivery.state != PENDING:
            return
        runner.deliver(job)
        retry_later(job)

    @app.task(name=EXPIRE)  # type: ignore[untyped-decorator]
    def expire(job_id: str) -> None:
        job = store.get(job_id)
        if job is None or job.state != WAITING:
            return  # its result came back in time
        runner.expire(job)
        retry_later(job)

    return app


class WorkerLeases:
    """In each ``connector-proxy worker`` process: renew the leases of the jobs it runs each second, and
    every few seconds queue again (and send) the running jobs whose lease ran out. ``dead``: the
    process this one replaces (its supervisor saw it exit), whose jobs are queued again at once."""

    def __init__(
        self, store: RedisJobStore, runner: JobRunner, app: Celery, queue: str, dead: tuple[str, int] | None
    ) -> None:
        self.store, self.runner, self.app, self.queue, self.dead = store, runner, app, queue, dead
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="job leases")
        self._thread.start()

    def stop(self, grace: float) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(min(grace, 5))

    def _run(self) -> None:
        swept = 0.0
        while not self._stopping.wait(RENEW_EVERY):
            try:
                self.runner.renew()
                if self.dead is not None:
                    self._send(self.store.requeue_lost(self.dead))
                    self.dead = None
                if time.monotonic() - swept >= SWEEP_EVERY:
                    swept = time.monotonic()
                    self._send(self.store.requeue_lost())
            except Exception:  # Redis is away: leases and sweeps resume when it is back
                log.warning("job leases: Redis did not answer; trying again", exc_info=True)

    def _send(self, job_ids: builtins.list[str]) -> None:
        for job_id in job_ids:
            self.app.send_task(RUN, args=[job_id], queue=self.queue)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
