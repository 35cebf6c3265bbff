"""Running one job: the same executor path as a synchronous call, with the job's own deadline.

Both backends run every job through here, so what protects a job thread or a
Celery task is written once: a job whose process died under it too often is
given up, a runner that fails finishes the job instead of dying, and an
answer that cannot be stored is replaced by an error that can.
"""

from __future__ import annotations

import logging

from connector_proxy import envelope, jsontext
from connector_proxy.config import JobSettings
from connector_proxy.errors import INTERNAL_ERROR, JOB_ABANDONED, unrenderable_answer
from connector_proxy.executor import ACCEPTED, Executor
from connector_proxy.jobs.model import Job
from connector_proxy.sdk.errors import CommandError

log = logging.getLogger(__name__)


def run_job(job: Job, executor: Executor, settings: JobSettings) -> None:
    """Run a job its backend has started (and saved as running); finish it in place, whatever happens."""
    if job.attempts > settings.max_starts:  # each earlier start ended with its process, not the job
        _fail(job, CommandError(JOB_ABANDONED, f"started {job.attempts - 1} times and never finished"))
        return
    log.info("job %s: running %s (attempt %s)", job.id, job.command, job.attempts)
    try:
        outcome = executor.run(job.command, job.payload, timeout=settings.command_timeout)
    except Exception:  # the executor turns a command's failures into envelopes: this one is ours
        log.exception("job %s: the runner failed", job.id)
        _fail(job, CommandError(INTERNAL_ERROR, "The job's runner failed; see the daemon's log"))
        return
    job.finish(outcome.status, dict(outcome.envelope), hand_off=outcome.status == ACCEPTED)
    try:
        jsontext.dumps(job.envelope)  # what is stored and delivered must be writable
    except jsontext.Unrenderable as problem:
        log.error("job %s: %s", job.id, problem)
        _fail(job, unrenderable_answer(problem))


def _fail(job: Job, error: CommandError) -> None:
    job.finish(error.http_status, envelope.from_error(error))
