"""The one entry point into the background for the web layer and the CLI: accept, look up, recover.

Nothing outside ``jobs/`` touches a store or a backend; they ask :class:`Jobs`.
"""

from __future__ import annotations

import importlib
import logging
import socket
import time
from dataclasses import asdict
from types import ModuleType
from typing import Protocol

from connector_proxy.calls import envelope
from connector_proxy.calls.call import Call
from connector_proxy.calls.executor import ACCEPTED, Executor, Outcome, rejected
from connector_proxy.config import ConfigError, Settings
from connector_proxy.host.error_codes import (
    CALLBACK_NOT_RESENDABLE,
    JOB_CANCELLED,
    JOB_NOT_CANCELLABLE,
    JOB_NOT_FOUND,
    RELAY_NOT_FOUND,
)
from connector_proxy.jobs import relay
from connector_proxy.jobs.delivery import callback_policy, checked_callback_url
from connector_proxy.jobs.model import DELIVERED, PENDING, QUEUED, WAITING, Delivery, Job
from connector_proxy.jobs.store import JobStore
from connector_proxy.process.services import Background
from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import Result, call_ids
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path

log = logging.getLogger(__name__)


class Dispatch(Protocol):
    """How a backend is told about work: a thread woken, a Celery task sent."""

    def run(self, job: Job) -> None:
        """A job was kept: have it run."""

    def deliver(self, job: Job) -> None:
        """A job's callback became due outside a run (a relayed result, a cancel, a resend): send it."""

    def expire_later(self, job: Job, seconds: float) -> None:
        """A job waits for its relayed result: fail it if none came within ``seconds``."""


class Jobs:
    """Validates up front (a call refused now is answered now), then keeps the job and has it run.

    ``dispatch`` tells the backend about work; ``background`` is what each worker process runs for
    this backend, if anything (see :mod:`connector_proxy.process.services`). ``relay_base`` is where a command
    that PUTs its own result back reaches the daemon (:mod:`connector_proxy.jobs.relay`).
    """

    def __init__(
        self,
        store: JobStore,
        dispatch: Dispatch,
        executor: Executor,
        settings: Settings,
        background: Background | None = None,
    ) -> None:
        self.store = store
        self.dispatch = dispatch
        self.executor = executor
        self.callbacks = callback_policy(settings.jobs)
        self.relay_base = relay.relay_base(settings)
        self.timeout = settings.jobs.command_timeout
        self.background = background

    def wanted(self, call: Call, prefer: str | None) -> bool:
        """``Prefer: respond-async`` (RFC 7240), or a command that always runs in the background."""
        if prefer and any(p.strip().lower() == "respond-async" for p in prefer.split(",")):
            return True
        return call.command is not None and call.command.command.asynchronous

    def accept(self, call: Call) -> Outcome:
        checked = self.executor.check(call)
        if isinstance(checked, Outcome):
            return checked  # the envelope with error set: the host fails the task instead of waiting
        try:
            callback_url = checked_callback_url(self.callbacks, call.host.callback_url)
        except CommandError as error:
            return rejected(error)
        job = Job(
            command=checked.id,
            payload=call.body,
            task_id=call.host.task_id,
            callback_url=callback_url,
            request_id=call_ids().request_id,
            relay_base=self.relay_base if checked.command.calls_back else None,
            traceparent=tracing.traceparent(),
        )
        job, joined = self.store.create_or_join(job)
        if not joined:
            self.dispatch.run(job)
        return _accepted(job, joined)

    def relays(self, call: Call) -> bool:
        """Whether the call hands its command a relay URL: the command PUTs its result back itself
        (declared ``calls_back``) and the host gave a callback URL to relay it to."""
        bound = call.command
        calls_back = bound is not None and bound.command.calls_back and self.relay_base is not None
        return calls_back and isinstance(call.body, dict) and bool(call.host.callback_url)

    def relay(self, call: Call) -> Outcome:
        """Run the call now with a relay URL in place of the host's; a job waits for the PUT back.
        A command that answers at once (no 202) ends the job: the host has its answer."""
        checked = self.executor.check(call)
        if isinstance(checked, Outcome):
            return checked
        try:
            callback_url = checked_callback_url(self.callbacks, call.host.callback_url)
        except CommandError as error:
            return rejected(error)
        job = Job(checked.id, {}, call.host.task_id, callback_url)
        job.request_id, job.traceparent = call_ids().request_id, tracing.traceparent()
        job.start()  # it runs now, in this request
        url = relay.open_relay(job, self.relay_base or "")
        job, joined = self.store.create_or_join(job)
        if joined:  # the host called again for a task whose command is still at work
            return _accepted(job, joined)
        self.dispatch.expire_later(job, self.timeout)
        outcome = self.executor.run(call.with_callback(url))
        if outcome.status != ACCEPTED:
            job.finish(outcome.status, dict(outcome.envelope), hand_off=True)
            self.store.settle(job)
        return outcome

    def take_relayed(self, job_id: str, key: str, raw: bytes) -> Job:
        """A command's result PUT back through its relay URL: the job settles and its callback is
        sent. A second PUT changes nothing; a wrong id or key is RelayNotFound."""
        job = self.store.get(job_id)
        if job is None or not relay.key_fits(job, key):
            raise CommandError(RELAY_NOT_FOUND, f"No job waits for a result at /v1/relay/{job_id}")
        if job.state != WAITING:
            return job
        relay.settle(job, raw)
        if self.store.settle(job):
            self.dispatch.deliver(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def cancel(self, job_id: str, by: str) -> Job:
        """An operator's cancel of a queued job: it fails with JobCancelled (never runs) and the host is
        told by its callback. A job a worker has started is JobNotCancellable."""
        job = self._found(job_id)
        if job.state != QUEUED:
            raise CommandError(
                JOB_NOT_CANCELLABLE, f"Job {job_id} is {job.state}; only a queued job is cancelled"
            )
        job.acted("cancel", by)
        job.fail(CommandError(JOB_CANCELLED, f"Job {job_id} was cancelled by an operator before it ran"))
        if not self.store.cancel(job):
            raise CommandError(JOB_NOT_CANCELLABLE, f"Job {job_id} was started by a worker meanwhile")
        log.info("job %s (%s) cancelled by an operator (%s)", job.id, job.command, by)
        if job.delivery.state == PENDING:
            self.dispatch.deliver(job)
        return job

    def redeliver(self, job_id: str, by: str) -> Job:
        """An operator's resend of a finished job's callback (undeliverable, or delivered and lost by
        the host): pending again, due now, its attempts counted afresh."""
        job = self._found(job_id)
        if not job.finished or not job.callback_url or job.delivery.state == PENDING:
            shown = (
                "no callback URL" if not job.callback_url else f"{job.state}, delivery {job.delivery.state}"
            )
            raise CommandError(
                CALLBACK_NOT_RESENDABLE, f"Job {job_id} has no callback to send again ({shown})"
            )
        job.acted("redeliver", by)
        earlier = asdict(job.delivery) if job.delivery.state == DELIVERED else None
        job.delivery = Delivery(state=PENDING, next_at=time.time(), resent_after=earlier)
        self.store.save(job)
        log.info(
            "job %s (%s): its callback is sent again at an operator's request (%s)", job.id, job.command, by
        )
        self.dispatch.deliver(job)
        return job

    def _found(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise CommandError(JOB_NOT_FOUND, f"No job {job_id!r}")
        return job

    def list(self, state: str | None, limit: int) -> list[Job]:
        """Newest first, optionally only those in ``state``."""
        return self.store.list(state, limit)

    def counts(self) -> dict[str, int]:
        """Jobs per state, for /metrics."""
        return self.store.counts()

    def refused_credentials(self) -> dict[str, str]:
        """Host origins whose last answer to a callback refused jobs.callback_headers."""
        return self.store.refused_credentials()

    def ping(self) -> None:
        """Raise if the job store cannot be reached."""
        self.store.ping()

    def recover(self) -> int:
        """Before any worker forks: what a stop left running runs again."""
        return self.store.recover()

    def worker_gone(self, pid: int) -> int:
        """gunicorn's master saw worker ``pid`` exit (killed, timed out, out of memory): the jobs it ran
        are queued again now, not once their leases run out. Only the embedded backend runs jobs in
        gunicorn's workers (Celery's run in ``connector-proxy worker``, which does the same)."""
        if self.background is None:
            return 0
        return len(self.store.requeue_lost((socket.gethostname(), pid)))

    def recovering(self) -> int:
        """Jobs queued again by recovery, not started since (readiness and /v1/operations show them)."""
        return self.store.recovering()

    def recoveries(self) -> dict[str, int]:
        """Jobs queued again by recovery, by reason, for /metrics."""
        return self.store.recoveries()


def _accepted(job: Job, joined: bool) -> Outcome:
    body = {
        "job_id": job.id,
        "state": job.state,
        "status_url": url_path("v1", "jobs", job.id),
        "joined": joined,
    }
    return Outcome(ACCEPTED, envelope.from_result(Result(body, http_status=ACCEPTED)))


def celery_backend() -> ModuleType:
    """The Celery backend's module, or a configuration error saying what to install."""
    try:
        return importlib.import_module("connector_proxy.jobs.celery_backend")
    except ModuleNotFoundError as missing:
        raise ConfigError(
            f'jobs.backend = "celery" needs the celery extra ({missing.name} is not installed):'
            " from a clone, .venv/bin/pip install -c constraints.txt './[celery]' (or -e '.[celery]')"
        ) from None


def create_jobs(settings: Settings, executor: Executor) -> Jobs:
    """The configured backend; Celery is imported only when chosen."""
    if settings.jobs.backend == "celery":
        backend = celery_backend()
        store, dispatch = backend.RedisJobStore(settings.jobs), backend.CeleryDispatch(settings.jobs)
        return Jobs(store, dispatch, executor, settings)
    from connector_proxy.jobs.runner import JobRunner
    from connector_proxy.jobs.sqlite import SqliteJobStore, SqliteJobThreads

    store = SqliteJobStore(settings.jobs, settings.sqlite_path)
    runner = JobRunner(store, executor, settings.jobs)
    threads = SqliteJobThreads(store, runner, settings.jobs.threads)
    return Jobs(store, threads, executor, settings, background=threads)


def refused_credentials(settings: Settings) -> dict[str, str]:
    """What the configured job store recorded of hosts refusing the callback credentials, read
    without creating anything (``check`` runs before the daemon); raises if the store is unreachable."""
    if settings.jobs.backend == "celery":
        return dict(celery_backend().RedisJobStore(settings.jobs).refused_credentials())
    from connector_proxy.jobs.sqlite import SqliteJobStore

    path = settings.sqlite_path
    return SqliteJobStore(settings.jobs, path).refused_credentials() if path.exists() else {}
