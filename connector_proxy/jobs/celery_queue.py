"""Celery on Redis: any daemon accepts a call, any worker runs it and delivers it, any daemon answers a poll.

Jobs are kept in Redis (one JSON record per job, sorted sets per state), so
every daemon instance and worker sees the same ones. Start workers with
``connector-proxy worker``. Tasks are acknowledged late: a worker that dies
mid-run has its job run again by another (at least once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import redis
from celery import Celery

from connector_proxy.config import JobSettings
from connector_proxy.executor import Executor
from connector_proxy.jobs.delivery import CallbackSender
from connector_proxy.jobs.model import PENDING, STATES, Job
from connector_proxy.jobs.runs import run_job
from connector_proxy.jobs.sealing import Sealer

log = logging.getLogger(__name__)
PREFIX = "connector-proxy"
RUN, DELIVER = "connector_proxy.run_job", "connector_proxy.deliver_result"


class RedisJobStore:
    """Job records in Redis; what both sides of Celery read and write."""

    def __init__(self, settings: JobSettings) -> None:
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.sealer = Sealer(settings.encryption_keys)
        self.keep = int(settings.keep_finished)

    def create_or_join(self, job: Job) -> tuple[Job, bool]:
        if job.task_id is not None:
            task_key = f"{PREFIX}:task:{job.task_id}"
            if not self.redis.set(task_key, job.id, nx=True, ex=self.keep):
                current = self.get(_text(self.redis.get(task_key)))
                if current is not None and not current.finished:
                    return current, True
                self.redis.set(task_key, job.id, ex=self.keep)  # that job is over: this one takes the task
        self.save(job)
        return job, False

    def save(self, job: Job) -> None:
        with self.redis.pipeline() as batch:
            batch.set(self._key(job.id), job.to_json(self.sealer), ex=self.keep if job.finished else None)
            batch.zadd(f"{PREFIX}:jobs", {job.id: job.created_at})
            for state in STATES:
                batch.zrem(f"{PREFIX}:jobs:{state}", job.id)
            batch.zadd(f"{PREFIX}:jobs:{job.state}", {job.id: job.created_at})
            if job.finished and job.task_id is not None:
                batch.delete(f"{PREFIX}:task:{job.task_id}")  # the next call for the task starts anew
            batch.execute()

    def get(self, job_id: str | None) -> Job | None:
        data = self.redis.get(self._key(job_id)) if job_id else None
        return Job.from_json(cast(bytes, data), self.sealer) if data else None

    def list(self, state: str | None, limit: int) -> list[Job]:
        index = f"{PREFIX}:jobs:{state}" if state else f"{PREFIX}:jobs"
        ids = [_text(raw) for raw in cast(list[bytes], self.redis.zrevrange(index, 0, limit - 1))]
        records = cast(list[bytes | None], self.redis.mget([self._key(i) for i in ids])) if ids else []
        expired = [job_id for job_id, data in zip(ids, records, strict=True) if data is None]
        if expired:  # records expire on their own; the indexes are tidied when met
            self.redis.zrem(index, *expired)
        return [Job.from_json(data, self.sealer) for data in records if data is not None]

    @staticmethod
    def _key(job_id: str | None) -> str:
        return f"{PREFIX}:job:{job_id}"


class CeleryJobQueue:
    """The daemon's side: keep the job, send its task; the workers do the rest."""

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.store = RedisJobStore(settings)
        self.app = celery_app(settings)

    def enqueue(self, job: Job) -> tuple[Job, bool]:
        job, joined = self.store.create_or_join(job)
        if not joined:
            self.app.send_task(RUN, args=[job.id], queue=self.settings.celery_queue)
        return job, joined

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        return self.store.list(state, limit)

    def recover(self) -> int:
        return 0  # the broker redelivers what a lost worker held; the daemon holds nothing

    def start(self) -> None:
        return None

    def stop(self, grace: float) -> None:
        return None


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


@dataclass
class WorkerSide:
    """What a worker process holds: the same executor as the daemon, the store, the sender."""

    settings: JobSettings
    executor: Executor
    store: RedisJobStore
    sender: CallbackSender

    def run(self, job_id: str, app: Celery) -> None:
        job = self.store.get(job_id)
        if job is None or job.finished:
            return  # a redelivered task whose job is already done (or expired)
        job.start()
        self.store.save(job)
        run_job(job, self.executor, self.settings)
        self.store.save(job)
        if job.delivery.state == PENDING:
            self.deliver(job_id, app)

    def deliver(self, job_id: str, app: Celery) -> None:
        job = self.store.get(job_id)
        if job is None or job.delivery.state != PENDING:
            return
        self.sender.deliver(job)
        self.store.save(job)
        if job.delivery.state == PENDING and job.delivery.next_at is not None:
            delay = max(0.0, job.delivery.next_at - time.time())
            app.send_task(DELIVER, args=[job_id], countdown=delay, queue=self.settings.celery_queue)


def worker_app(side: WorkerSide) -> Celery:
    """The Celery app with its two tasks bound to this worker's side."""
    app = celery_app(side.settings)

    @app.task(name=RUN)  # type: ignore[untyped-decorator]
    def run(job_id: str) -> None:
        side.run(job_id, app)

    @app.task(name=DELIVER)  # type: ignore[untyped-decorator]
    def deliver(job_id: str) -> None:
        side.deliver(job_id, app)

    return app


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
