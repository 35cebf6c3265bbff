"""The contract of a job backend, written once; both backends pass one test suite against it."""

from __future__ import annotations

from typing import Protocol

from connector_proxy.jobs.model import Job


class JobQueue(Protocol):
    def enqueue(self, job: Job) -> tuple[Job, bool]:
        """Keep ``job`` and have it run; or, if a job for the same task is queued or running,
        return that one and True (the host called again for the same task)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first, optionally only those in ``state``."""
        ...

    def recover(self) -> int:
        """At start-up, before any worker: jobs left running by a stop are queued again.

        Returns how many. Jobs are run at least once: one interrupted mid-run runs again."""
        ...

    def start(self) -> None:
        """In each worker process: begin running jobs and delivering results (if this backend does)."""
        ...

    def stop(self, grace: float) -> None:
        """Take no new job; let running ones finish within ``grace`` seconds."""
        ...
