"""Running one job: the same executor path as a synchronous call, with the job's own deadline."""

from __future__ import annotations

import logging

from connector_proxy.executor import ACCEPTED, Executor
from connector_proxy.jobs.model import Job

log = logging.getLogger(__name__)


def run_job(job: Job, executor: Executor, timeout: float) -> None:
    """Run a job its backend has started (and saved as running); finish it in place."""
    log.info("job %s: running %s (attempt %s)", job.id, job.command, job.attempts)
    outcome = executor.run(job.command, job.payload, timeout=timeout)
    job.finish(
        outcome.status, dict(outcome.envelope), hand_off=outcome.status == ACCEPTED
    )  # a remote system calls back
