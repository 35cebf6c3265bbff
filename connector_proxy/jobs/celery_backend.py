"""Celery on Redis: any daemon accepts a call, any worker runs it and delivers it, any daemon answers a poll.

Jobs are kept in Redis (one JSON record per job, sorted sets per state), so
every daemon instance and worker sees the same ones. Start workers with
``connector-proxy worker``. Tasks are acknowledged late: a worker that dies
mid-run has its job run again by another (at least once).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, cast

import redis
from celery import Celery

from connector_proxy.config import JobSettings
from connector_proxy.jobs.model import FINISHED, PENDING, STATES, WAITING, Job, refusal
from connector_proxy.jobs.runner import JobRunner
from connector_proxy.redis_indexes import counts_by_state, newest
from connector_proxy.sealing import Sealer

log = logging.getLogger(__name__)
RUN, DELIVER, EXPIRE = (
    "connector_proxy.run_job",
    "connector_proxy.deliver_result",
    "connector_proxy.expire_job",
)
BY_WORKER, BY_CANCEL = "worker", "cancel"  # who took a queued job first (its first-start marker)


class RedisJobStore:
    """Job records in Redis; what both sides of Celery read and write."""

    def __init__(self, settings: JobSettings) -> None:
        self.redis = redis.Redis.from_url(settings.redis_url)
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
        with self.redis.pipeline() as batch:
            batch.set(self._key(job.id), job.to_json(self.sealer), ex=self.keep if job.finished else None)
            batch.zadd(f"{self.prefix}:jobs", {job.id: job.created_at})
            for state in STATES:
                batch.zrem(f"{self.prefix}:jobs:{state}", job.id)
            batch.zadd(f"{self.prefix}:jobs:{job.state}", {job.id: job.created_at})
            if job.finished and job.task_id is not None:
                batch.delete(f"{self.prefix}:task:{job.task_id}")  # the next call for the task starts anew
            batch.execute()

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
        """Nothing to do: the broker gives a lost worker's task to another."""
        return 0

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        index = f"{self.prefix}:jobs:{state}" if state else f"{self.prefix}:jobs"
        return [Job.from_json(data, self.sealer) for data in newest(self.redis, index, self._key, limit)]

    def _key(self, job_id: str | None) -> str:
        return f"{self.prefix}:job:{job_id}"


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
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # acknowledged when done: a lost worker's job runs again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.command_timeout + 600},
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
        job = store.get(job_id)
        if job is None or job.finished:
            return  # a redelivered task whose job is already done (or expired)
        if job.attempts == 0 and not store.first_start(job_id):
            return  # cancelled by an operator (or taken by another worker) before it started
        job.start()
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


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
