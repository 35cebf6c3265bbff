"""Running a started job, for every backend: run it, save it, deliver it, save it.

The SQLite threads and the Celery tasks each claim a job their own way, then
hand it here, so what protects a job is written once: a job whose process
died under it too often is given up, a runner that fails finishes the job
instead of dying, and an answer that cannot be stored is replaced by an error
that can.
"""

from __future__ import annotations

import logging
import os
import threading

from connector_proxy.calls.executor import ACCEPTED, Executor
from connector_proxy.config import JobSettings
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import INTERNAL_ERROR, JOB_ABANDONED, unrenderable_answer
from connector_proxy.jobs import relay
from connector_proxy.jobs.delivery import CREDENTIALS_REFUSED, CallbackSender
from connector_proxy.jobs.model import DELIVERED, PENDING, WAITING, Job
from connector_proxy.jobs.store import JobStore
from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import CallIds, identified
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.outbound import origin_of
from connector_proxy.stores.leases import LeaseLost, new_owner

log = logging.getLogger(__name__)


class JobRunner:
    """The backend-neutral half of a job's life, from the moment a backend has started it."""

    def __init__(self, store: JobStore, executor: Executor, settings: JobSettings) -> None:
        self.store = store
        self.executor = executor
        self.settings = settings
        self._sender: CallbackSender | None = None  # made where it sends: pools never cross a fork
        self._owner: tuple[int, str] = (0, "")
        self._held: set[str] = set()  # ids of the jobs this process runs now, their leases renewed
        self._lock = threading.Lock()

    @property
    def owner(self) -> str:
        """This process's name as the holder of its jobs' leases (a forked worker gets its own)."""
        if self._owner[0] != os.getpid():
            self._owner = (os.getpid(), new_owner())
            self._held = set()
        return self._owner[1]

    def renew(self) -> None:
        """Renew the leases of the jobs this process runs (its heartbeat, each second)."""
        with self._lock:
            held = set(self._held)
        if held:
            self.store.renew(self.owner, held, self.settings.lease_seconds)

    def run(self, job: Job) -> None:
        """Run a job its backend has started (saved as running, its lease held), then deliver its result.
        A run whose lease was lost meanwhile (its job recovered by another process) writes nothing more."""
        with self._lock:
            self._held.add(job.id)
        try:
            self._run(job)
        except LeaseLost as lost:
            log.warning("%s: this run's outcome is dropped, the job runs (or ran) elsewhere", lost)
        finally:
            with self._lock:
                self._held.discard(job.id)

    def _run(self, job: Job) -> None:
        with (
            identified(CallIds(request_id=job.request_id)),  # its lines carry the accepting request's id
            tracing.span(f"job {job.command}", parent=job.traceparent, connector_proxy__job_id=job.id),
        ):
            relay_url = self._open_relay(job)
            self._execute(job, relay_url)
            if job.state == WAITING:
                return  # its command PUTs the result back through the relay; the job settles then
            if relay_url is not None and not self.store.settle(job):
                return  # the result came back through the relay first: that one stands
            delivering = job.delivery.state == PENDING
            self.store.save(job, delivering=delivering)
            if delivering:
                self.deliver(job)

    def expire(self, job: Job) -> None:
        """Fail a job whose command never PUT its result back, and tell the host."""
        job.fail(relay.timed_out())
        if self.store.settle(job):
            self.deliver(job)

    def _open_relay(self, job: Job) -> str | None:
        """For a command that PUTs its own result back: the relay URL to hand it (on the daemon that
        accepted the job), the job saved as waiting first (the PUT may come before the command returns)."""
        if job.relay_base is None or not job.callback_url:
            return None
        url = relay.open_relay(job, job.relay_base)
        self.store.save(job)
        return url

    def deliver(self, job: Job) -> None:
        """Try the callback once and save what came of it (and when to try again)."""
        if self._sender is None:
            self._sender = CallbackSender(self.settings)
        with identified(CallIds(job.request_id, task_id=job.task_id)):  # the PUT carries X-Request-Id
            self._sender.deliver(job)
        if job.callback_url and (
            job.delivery.outcome == CREDENTIALS_REFUSED or job.delivery.state == DELIVERED
        ):
            refused = job.delivery.host_status if job.delivery.outcome == CREDENTIALS_REFUSED else None
            # recorded before the job is saved: whoever sees the attempt sees what it said of the credentials
            self.store.record_credentials(origin_of(job.callback_url), refused)
        self.store.save(job)

    def _execute(self, job: Job, relay_url: str | None) -> None:
        """The same executor path as a synchronous call, with the job's own deadline; finishes the job
        (or, handed a relay URL and answered 202, leaves it waiting)."""
        if job.attempts > self.settings.max_starts:  # each earlier start ended with its process, not the job
            job.fail(CommandError(JOB_ABANDONED, f"started {job.attempts - 1} times and never finished"))
            return
        log.info("job %s: running %s (attempt %s)", job.id, job.command, job.attempts)
        call = self.executor.read(job.command, job.payload)
        try:
            outcome = self.executor.run(
                call if relay_url is None else call.with_callback(relay_url),
                timeout=self.settings.command_timeout,
            )
        except Exception:  # the executor turns a command's failures into envelopes: this one is ours
            log.exception("job %s: the runner failed", job.id)
            job.fail(CommandError(INTERNAL_ERROR, "The job's runner failed; see the daemon's log"))
            return
        if relay_url is not None and outcome.status == ACCEPTED:
            return  # waiting for the PUT back
        job.finish(outcome.status, dict(outcome.envelope), hand_off=outcome.status == ACCEPTED)
        try:
            jsontext.dumps(job.envelope)  # what is stored and delivered must be writable
        except jsontext.Unrenderable as problem:
            log.error("job %s: %s", job.id, problem)
            job.fail(unrenderable_answer(problem))
