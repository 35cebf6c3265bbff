"""The one entry point into the background for the web layer and the CLI: accept, look up, recover.

Nothing outside ``jobs/`` touches a store or a backend; they ask :class:`Jobs`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from connector_proxy import envelope
from connector_proxy.config import ConfigError, Settings
from connector_proxy.executor import ACCEPTED, Executor, Outcome, rejected, text_or_none
from connector_proxy.jobs.delivery import callback_policy, checked_callback_url
from connector_proxy.jobs.model import Job
from connector_proxy.jobs.store import JobStore
from connector_proxy.lifecycle import Background
from connector_proxy.sdk.context import Result, call_ids
from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.errors import CommandError


class Jobs:
    """Validates up front (a call refused now is answered now), then keeps the job and has it run.

    ``dispatch`` tells the backend a job was kept (wakes a thread, sends a task); ``background`` is
    what each worker process runs for this backend, if anything (see :mod:`connector_proxy.lifecycle`).
    """

    def __init__(
        self,
        store: JobStore,
        dispatch: Callable[[Job], None],
        executor: Executor,
        callbacks: DestinationPolicy,
        background: Background | None = None,
    ) -> None:
        self.store = store
        self.dispatch = dispatch
        self.executor = executor
        self.callbacks = callbacks
        self.background = background

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
        task_id = text_or_none(payload.get("spiff__task_id"))
        job = Job(
            command=checked.id,
            payload=payload,
            task_id=task_id,
            callback_url=callback_url,
            request_id=call_ids().request_id,
        )
        job, joined = self.store.create_or_join(job)
        if not joined:
            self.dispatch(job)
        body = {"job_id": job.id, "state": job.state, "status_url": f"/v1/jobs/{job.id}", "joined": joined}
        return Outcome(ACCEPTED, envelope.from_result(Result(body, http_status=ACCEPTED)))

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def list(self, state: str | None, limit: int) -> list[Job]:
        """Newest first, optionally only those in ``state``."""
        return self.store.list(state, limit)

    def counts(self) -> dict[str, int]:
        """Jobs per state, for /metrics."""
        return self.store.counts()

    def ping(self) -> None:
        """Raise if the job store cannot be reached."""
        self.store.ping()

    def recover(self) -> int:
        """Before any worker forks: what a stop left running runs again."""
        return self.store.recover()


def celery_backend() -> ModuleType:
    """The Celery backend's module, or a configuration error saying what to install."""
    try:
        return importlib.import_module("connector_proxy.jobs.celery_backend")
    except ModuleNotFoundError as missing:
        raise ConfigError(
            f'jobs.backend = "celery" needs the celery extra ({missing.name} is not installed):'
            " pip install 'connector-proxy[celery]'"
        ) from None


def create_jobs(settings: Settings, executor: Executor) -> Jobs:
    """The configured backend; Celery is imported only when chosen."""
    callbacks = callback_policy(settings.jobs)
    if settings.jobs.backend == "celery":
        backend = celery_backend()
        store, dispatch = backend.RedisJobStore(settings.jobs), backend.CeleryDispatch(settings.jobs)
        return Jobs(store, dispatch.send, executor, callbacks)
    from connector_proxy.jobs.runner import JobRunner
    from connector_proxy.jobs.sqlite import SqliteJobStore, SqliteJobThreads

    base = settings.source.parent if settings.source else Path.cwd()
    store = SqliteJobStore(settings.jobs, base / settings.jobs.sqlite_path)
    threads = SqliteJobThreads(store, JobRunner(store, executor, settings.jobs), settings.jobs.threads)
    return Jobs(store, threads.wake, executor, callbacks, background=threads)
