"""Accepting a call as a job: the one entry point of the web layer into the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector_proxy import envelope
from connector_proxy.config import Settings
from connector_proxy.executor import ACCEPTED, Executor, Outcome, rejected, text_or_none
from connector_proxy.jobs.delivery import callback_policy, checked_callback_url
from connector_proxy.jobs.model import Job
from connector_proxy.jobs.queue import JobQueue
from connector_proxy.sdk.context import Result
from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.errors import CommandError


class Jobs:
    """Validates up front (a call refused now is answered now), then hands the call to the queue."""

    def __init__(self, queue: JobQueue, executor: Executor, callbacks: DestinationPolicy) -> None:
        self.queue = queue
        self.executor = executor
        self.callbacks = callbacks

    def wanted(self, command_id: str, prefer: str | None) -> bool:
        """``Prefer: respond-async`` (RFC 7240), or a command that always runs in the background."""
        if prefer and any(p.strip().lower() == "respond-async" for p in prefer.split(",")):
            return True
        bound = self.executor.registry.find(command_id)
        return bound is not None and bound.command.asynchronous

    def accept(self, command_id: str, payload: Any) -> Outcome:
        checked = self.executor.check(command_id, payload)
        if isinstance(checked, Outcome):
            return checked  # the envelope with error set: the host fails the task instead of waiting
        try:
            callback_url = checked_callback_url(self.callbacks, payload.get("spiff__callback_url"))
        except CommandError as error:
            return rejected(error)
        job, joined = self.queue.enqueue(
            Job(
                command=checked.id,
                payload=payload,
                task_id=text_or_none(payload.get("spiff__task_id")),
                callback_url=callback_url,
            )
        )
        body = {"job_id": job.id, "state": job.state, "status_url": f"/v1/jobs/{job.id}", "joined": joined}
        return Outcome(ACCEPTED, envelope.from_result(Result(body, http_status=ACCEPTED)))


def create_jobs(settings: Settings, executor: Executor) -> Jobs:
    """The configured backend; Celery is imported only when chosen."""
    if settings.jobs.backend == "celery":
        from connector_proxy.jobs.celery_queue import CeleryJobQueue

        return Jobs(CeleryJobQueue(settings.jobs), executor, callback_policy(settings.jobs))
    from connector_proxy.jobs.sqlite import SqliteJobQueue

    base = settings.source.parent if settings.source else Path.cwd()
    queue = SqliteJobQueue(settings.jobs, executor, base / settings.jobs.sqlite_path)
    return Jobs(queue, executor, callback_policy(settings.jobs))
