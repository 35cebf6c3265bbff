"""The contract of a job store, written once; both backends pass one test suite against it.

A store only keeps jobs. Claiming work is each backend's own (a SQLite
transaction, a Celery task); from a started job on, every backend hands it to
:class:`connector_proxy.jobs.runner.JobRunner`.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import Protocol

from connector_proxy.jobs.model import Job

# why a running job was queued again (connector_proxy_jobs_recovered_total{reason})
RESTART = "restart"  # left running by the daemon's last stop, found at start-up
WORKER_EXITED = "worker_exited"  # its process exited (killed, timed out, out of memory), seen at once
LEASE_EXPIRED = "lease_expired"  # its process stopped renewing its lease for jobs.lease_seconds
RECOVERY_REASONS = {
    RESTART: "left running by the last stop",
    WORKER_EXITED: "the process running it exited",
    LEASE_EXPIRED: "the process running it stopped renewing its lease",
}


class JobStore(Protocol):
    def create_or_join(self, job: Job) -> tuple[Job, bool]:
        """Keep ``job``; or, if a job for the same task is not finished (queued, running or
        waiting), return that one and True (the host called again for the same task)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first, optionally only those in ``state``."""
        ...

    def save(self, job: Job, delivering: bool = False) -> None:
        """Write the job as it is now. ``delivering``: the caller sends its callback next, so no
        other process may pick the delivery up meanwhile.

        A job with a ``runner`` is written only while that runner holds its lease, else
        :class:`~connector_proxy.stores.leases.LeaseLost` and nothing is written (a job recovered from a
        runner that was only slow never finishes twice); once it leaves ``running`` the lease is given up."""
        ...

    def settle(self, job: Job) -> bool:
        """Write the outcome of a job that was waiting for its relayed result, if it still was:
        of a relayed PUT, the command's own answer and the expiry, the first to settle wins."""
        ...

    def cancel(self, job: Job) -> bool:
        """Write ``job`` (its cancelled outcome) if no worker has started it yet; True if so. Once a
        worker took it, False: it runs (or ran) as usual."""
        ...

    def record_credentials(self, origin: str, refused_with: int | None) -> None:
        """After a callback to ``origin``: the 401/403 it refused jobs.callback_headers with, or None
        when it took them (which clears an earlier refusal). Readiness and ``check`` read these."""
        ...

    def refused_credentials(self) -> dict[str, str]:
        """Each host origin whose last answer refused the callback credentials: when, and how."""
        ...

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state now (for /metrics)."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached or cannot write (readiness asks)."""
        ...

    def recover(self) -> int:
        """At start-up, before any worker: jobs left running by a stop are queued again.

        Returns how many. Jobs are run at least once: one interrupted mid-run runs again."""
        ...

    def renew(self, owner: str, job_ids: Collection[str], seconds: float) -> None:
        """The runner ``owner`` still runs these jobs: their leases last ``seconds`` from now."""
        ...

    def requeue_lost(self, dead: tuple[str, int] | None = None) -> builtins.list[str]:
        """Queue again, by the same rule as :meth:`recover`, the running jobs whose lease ran out (or,
        with ``dead``, every one the process (host, pid) ran: it is gone). Their ids."""
        ...

    def recovering(self) -> int:
        """Jobs queued again by recovery that have not started since (readiness shows them)."""
        ...

    def recoveries(self) -> dict[str, int]:
        """Jobs queued again by recovery since the store was made, by reason (for /metrics)."""
        ...
