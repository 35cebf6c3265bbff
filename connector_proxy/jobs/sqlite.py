"""The embedded backend: jobs in one SQLite file (WAL), run by a few threads in each worker.

Workers claim jobs and due deliveries with a write transaction, so several
worker processes share the file safely; one daemon owns it (``recover`` at
start-up requeues whatever was left running). See :mod:`connector_proxy.stores.sqlite_file` for
how the file is shared and how durable a commit is.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
import threading
import time
from collections.abc import Collection
from pathlib import Path

from connector_proxy.config import JobSettings
from connector_proxy.jobs.model import (
    FINISHED,
    PENDING,
    QUEUED,
    RUNNING,
    STATES,
    UNFINISHED,
    WAITING,
    Job,
    refusal,
)
from connector_proxy.jobs.runner import JobRunner
from connector_proxy.jobs.store import LEASE_EXPIRED, RECOVERY_REASONS, RESTART, WORKER_EXITED
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.leases import Heartbeat, LeaseLost, owner_pid
from connector_proxy.stores.sqlite_file import SqliteFile

log = logging.getLogger(__name__)
POLL = 1.0  # seconds between looks for work another process queued (this process's own wake it at once)
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    task_id TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    delivery_state TEXT NOT NULL,
    next_delivery_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_task ON jobs (task_id, state);
CREATE INDEX IF NOT EXISTS jobs_by_delivery ON jobs (delivery_state, next_delivery_at);
CREATE TABLE IF NOT EXISTS refused_credentials (origin TEXT PRIMARY KEY, status INTEGER, at REAL);
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL);
-- a running job's lease: its runner (host, pid) renews ``until``; a row without an owner marks a job
-- queued again by recovery, for the reason given, and not started since
CREATE TABLE IF NOT EXISTS job_leases (
    job_id TEXT PRIMARY KEY,
    owner TEXT,
    host TEXT,
    pid INTEGER,
    until REAL NOT NULL DEFAULT 0,
    recovered TEXT
);
CREATE INDEX IF NOT EXISTS job_leases_by_owner ON job_leases (owner);
CREATE TABLE IF NOT EXISTS job_recoveries (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
# jobs left running whose lease is gone or run out
LOST = (
    "SELECT j.data FROM jobs j LEFT JOIN job_leases l ON l.job_id = j.id"
    " WHERE j.state = ? AND (l.owner IS NULL OR l.until < ?)"
)
# jobs left running by one process (host, pid) that is gone
LOST_BY = (
    "SELECT j.data FROM jobs j JOIN job_leases l ON l.job_id = j.id"
    " WHERE j.state = ? AND l.host = ? AND l.pid = ?"
)


class SqliteJobStore:
    """Jobs in one SQLite file: the store of the embedded backend, shared by the worker processes."""

    def __init__(self, settings: JobSettings, path: Path) -> None:
        self.settings = settings
        self.path = path
        self.sealer = Sealer(settings.encryption_keys)
        self.file = SqliteFile(path, SCHEMA)

    def create_or_join(self, job: Job) -> tuple[Job, bool]:
        with self.file.write() as db:
            if job.task_id is not None:
                row = db.execute(
                    "SELECT data FROM jobs WHERE task_id = ? AND state IN (?, ?, ?) LIMIT 1",
                    (job.task_id, *UNFINISHED),
                ).fetchone()
                if row:
                    return Job.from_json(row[0], self.sealer), True
            self._insert(db, job)
        return job, False

    def get(self, job_id: str) -> Job | None:
        row = self.file.read().execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_json(row[0], self.sealer) if row else None

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        if state is None:
            query = "SELECT data FROM jobs ORDER BY created_at DESC LIMIT ?"
            rows = self.file.read().execute(query, (limit,))
        else:
            query = "SELECT data FROM jobs WHERE state = ? ORDER BY created_at DESC LIMIT ?"
            rows = self.file.read().execute(query, (state, limit))
        return [Job.from_json(row[0], self.sealer) for row in rows.fetchall()]

    def counts(self) -> dict[str, int]:
        rows = self.file.read().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in STATES} | {state: count for state, count in rows}

    def ping(self) -> None:
        """A write, not a read: a full disk still reads (readiness must see that it cannot write)."""
        self.file.probe()

    def recover(self) -> int:
        with self.file.write() as db:
            rows = db.execute("SELECT data FROM jobs WHERE state = ?", (RUNNING,)).fetchall()
            left = self._requeue(db, [Job.from_json(row[0], self.sealer) for row in rows], RESTART)
            db.execute(  # deliveries leased by a stopped process go out now
                "UPDATE jobs SET next_delivery_at = ? WHERE delivery_state = ?", (time.time(), PENDING)
            )
        if left:
            log.warning("%s job(s) left running by the last stop are queued again", left)
        return left

    def requeue_lost(self, dead: tuple[str, int] | None = None) -> builtins.list[str]:
        arguments: tuple[object, ...] = (RUNNING, time.time()) if dead is None else (RUNNING, *dead)
        query = LOST if dead is None else LOST_BY
        if not self.file.read().execute(f"{query} LIMIT 1", arguments).fetchone():
            return []  # a read takes no lock: every process looks every second
        with self.file.write() as db:
            lost = [Job.from_json(row[0], self.sealer) for row in db.execute(query, arguments).fetchall()]
            self._requeue(db, lost, LEASE_EXPIRED if dead is None else WORKER_EXITED)
        return [job.id for job in lost]

    def _requeue(self, db: sqlite3.Connection, lost: builtins.list[Job], reason: str) -> int:
        """Queue ``lost`` running jobs again, marked as recovering, and count them under ``reason``."""
        for job in lost:
            log.warning("job %s (%s): %s; queued again", job.id, job.command, RECOVERY_REASONS[reason])
            job.state, job.runner = QUEUED, None
            self._update(db, job)
            db.execute(
                "INSERT OR REPLACE INTO job_leases (job_id, owner, until, recovered) VALUES (?, NULL, 0, ?)",
                (job.id, reason),
            )
        if lost:
            db.execute(
                "INSERT INTO job_recoveries (reason, count) VALUES (?, ?)"
                " ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                (reason, len(lost)),
            )
        return len(lost)

    def renew(self, owner: str, job_ids: Collection[str], seconds: float) -> None:
        with self.file.write() as db:
            db.execute("UPDATE job_leases SET until = ? WHERE owner = ?", (time.time() + seconds, owner))

    def recovering(self) -> int:
        query = (
            "SELECT COUNT(*) FROM job_leases l JOIN jobs j ON j.id = l.job_id"
            " WHERE l.owner IS NULL AND j.state = ?"
        )
        return int(self.file.read().execute(query, (QUEUED,)).fetchone()[0])

    def recoveries(self) -> dict[str, int]:
        rows = self.file.read().execute("SELECT reason, count FROM job_recoveries").fetchall()
        return {reason: 0 for reason in RECOVERY_REASONS} | {reason: count for reason, count in rows}

    def claim_job(self, owner: str) -> Job | None:
        if not self.file.read().execute("SELECT 1 FROM jobs WHERE state = ? LIMIT 1", (QUEUED,)).fetchone():
            return None  # a read takes no lock: idle workers cost next to nothing
        with self.file.write() as db:
            row = db.execute(
                "SELECT data FROM jobs WHERE state = ? ORDER BY created_at LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            job = Job.from_json(row[0], self.sealer)
            job.start()
            job.runner = owner
            self._update(db, job)
            held = owner_pid(owner) or ("", 0)
            db.execute(
                "INSERT OR REPLACE INTO job_leases (job_id, owner, host, pid, until, recovered)"
                " VALUES (?, ?, ?, ?, ?, NULL)",
                (job.id, owner, *held, time.time() + self.settings.lease_seconds),
            )
            return job

    def claim_delivery(self) -> Job | None:
        now = time.time()
        due = "SELECT 1 FROM jobs WHERE delivery_state = ? AND next_delivery_at <= ? LIMIT 1"
        if not self.file.read().execute(due, (PENDING, now)).fetchone():
            return None
        with self.file.write() as db:
            row = db.execute(
                "SELECT data FROM jobs WHERE delivery_state = ? AND next_delivery_at <= ?"
                " ORDER BY next_delivery_at LIMIT 1",
                (PENDING, now),
            ).fetchone()
            if row is None:
                return None
            job = Job.from_json(row[0], self.sealer)
            # no other thread or process sends it meanwhile
            db.execute("UPDATE jobs SET next_delivery_at = ? WHERE id = ?", (self._lease(), job.id))
            return job

    def settle(self, job: Job) -> bool:
        with self.file.write() as db:
            return self._update(db, job, only_if=WAITING) == 1

    def cancel(self, job: Job) -> bool:
        with self.file.write() as db:  # a worker claims a job in a write too: one of the two wins
            return self._update(db, job, only_if=QUEUED) == 1

    def overdue(self, started_before: float) -> builtins.list[Job]:
        """Jobs still waiting for a relayed result they were promised before then."""
        query = "SELECT data FROM jobs WHERE state = ? AND created_at < ?"
        rows = self.file.read().execute(query, (WAITING, started_before)).fetchall()
        return [Job.from_json(row[0], self.sealer) for row in rows]

    def record_credentials(self, origin: str, refused_with: int | None) -> None:
        if refused_with is None:
            if origin not in self.refused_credentials():  # a read: the usual case writes nothing
                return
            with self.file.write() as db:
                db.execute("DELETE FROM refused_credentials WHERE origin = ?", (origin,))
            return
        with self.file.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO refused_credentials (origin, status, at) VALUES (?, ?, ?)",
                (origin, refused_with, time.time()),
            )

    def refused_credentials(self) -> dict[str, str]:
        rows = self.file.read().execute("SELECT origin, status, at FROM refused_credentials").fetchall()
        return {origin: refusal(status, at) for origin, status, at in rows}

    def _lease(self) -> float:
        """Until when a delivery being sent is off limits to every other process's claim."""
        return time.time() + self.settings.delivery_timeout + 5

    def prune(self) -> None:
        cutoff = time.time() - self.settings.keep_finished
        with self.file.write() as db:
            gone = db.execute(
                f"DELETE FROM jobs WHERE state IN ({', '.join('?' * len(FINISHED))})"  # noqa: S608 - placeholders
                " AND finished_at < ? AND delivery_state != ?",
                (*FINISHED, cutoff, PENDING),
            ).rowcount
            db.execute(  # marks of recovered jobs that have started (or gone) since
                "DELETE FROM job_leases WHERE owner IS NULL"
                " AND job_id NOT IN (SELECT id FROM jobs WHERE state = ?)",
                (QUEUED,),
            )
        if gone:
            log.info("%s finished job(s) older than jobs.keep_finished removed", gone)

    def save(self, job: Job, delivering: bool = False) -> None:
        if delivering:
            job.delivery.next_at = self._lease()  # the caller delivers it, not another process's loop
        with self.file.write() as db:
            self._fence(db, job)
            self._update(db, job)

    def _fence(self, db: sqlite3.Connection, job: Job) -> None:
        """A runner writes its job only while it holds the job's lease (else LeaseLost, nothing written);
        a job leaving ``running`` gives its lease up."""
        if job.runner is None:
            return
        row = db.execute("SELECT owner FROM job_leases WHERE job_id = ?", (job.id,)).fetchone()
        if row is None or row[0] != job.runner:
            raise LeaseLost(f"job {job.id}: its lease passed to another process")
        if job.state != RUNNING:
            db.execute("DELETE FROM job_leases WHERE job_id = ?", (job.id,))
            job.runner = None

    def _insert(self, db: sqlite3.Connection, job: Job) -> None:
        db.execute(
            "INSERT INTO jobs (id, state, task_id, created_at, finished_at, delivery_state,"
            " next_delivery_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.state,
                job.task_id,
                job.created_at,
                job.finished_at,
                job.delivery.state,
                job.delivery.next_at,
                job.to_json(self.sealer),
            ),
        )

    def _update(self, db: sqlite3.Connection, job: Job, only_if: str | None = None) -> int:
        """Write the job; with ``only_if``, only while its stored state is that one. How many rows."""
        columns = (
            job.state,
            job.finished_at,
            job.delivery.state,
            job.delivery.next_at,
            job.to_json(self.sealer),
            job.id,
        )
        update = (
            "UPDATE jobs SET state = ?, finished_at = ?, delivery_state = ?, next_delivery_at = ?,"
            " data = ? WHERE id = ?"
        )
        if only_if is None:
            return db.execute(update, columns).rowcount
        return db.execute(f"{update} AND state = ?", (*columns, only_if)).rowcount


class SqliteJobThreads:
    """The embedded backend's work in each worker process: job threads, and one loop that sends due
    callbacks and prunes old jobs. Claims go through the store's write transactions, so the
    processes sharing the file never take the same job or delivery."""

    def __init__(self, store: SqliteJobStore, runner: JobRunner, threads: int) -> None:
        self.store = store
        self.runner = runner
        self.threads = threads
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: list[threading.Thread] = []
        self._heartbeat = Heartbeat(runner.renew, "job leases")

    def run(self, _job: Job) -> None:
        """A job was queued in this process: a thread takes it now (other processes poll)."""
        self._wake.set()

    def deliver(self, _job: Job) -> None:
        """Nothing to do: the delivery loop takes a due callback within a second."""

    def expire_later(self, _job: Job, _seconds: float) -> None:
        """Nothing to do: the delivery loop fails overdue waiting jobs each turn."""

    def start(self) -> None:
        self._stopping.clear()
        loops = [self._run_jobs] * self.threads + [self._deliver_and_prune]
        self._running = [threading.Thread(target=loop, daemon=True, name="jobs") for loop in loops]
        for thread in self._running:
            thread.start()
        self._heartbeat.start()

    def stop(self, grace: float) -> None:
        """Take no new job; let running ones finish within ``grace`` seconds."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + grace
        for thread in self._running:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = sum(thread.is_alive() for thread in self._running)
        if running:  # their leases run out, or the master's child_exit hook queues them again at once
            log.warning(
                "stopping with %s job thread(s) busy: their jobs run again once their leases are gone",
                running,
            )
        self._heartbeat.stop()

    def _run_jobs(self) -> None:
        while not self._stopping.is_set():
            job = self.store.claim_job(self.runner.owner)
            if job is None:
                self._wake.wait(POLL)
                self._wake.clear()
                continue
            try:
                self.runner.run(job)
            except Exception:  # storage failed: the thread lives on; the job counts a start at the next
                log.exception("job %s: could not be saved; it runs again at the next start", job.id)

    def _deliver_and_prune(self) -> None:
        last_prune = 0.0
        while not self._stopping.wait(POLL):
            try:
                if self.store.requeue_lost():  # jobs of a process that died, their leases run out
                    self._wake.set()
                for overdue in self.store.overdue(time.time() - self.runner.settings.command_timeout):
                    self.runner.expire(overdue)  # an indexed read each turn: usually finds none
                while (job := self.store.claim_delivery()) is not None:
                    self.runner.deliver(job)
                if time.monotonic() - last_prune > 60:
                    self.store.prune()
                    last_prune = time.monotonic()
            except Exception:  # the store failed (locked, full): try again at the next turn
                log.exception("the delivery loop failed; it goes on")
