"""One SQLite file shared by the worker processes: a connection per thread and process, and write
transactions that take the lock first. The job store and the event store keep their tables in it.

Commits use WAL with ``synchronous=NORMAL``: a killed process loses nothing committed (a power
cut may lose the last transactions).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIN_FREE_BYTES = 1024 * 1024  # less free on the file's disk and readiness says the store cannot write
FAILED_FOR = 10.0  # seconds a failed write keeps readiness at cannot_write, unless a write succeeds
# the last write to each file that failed for want of room (or a read-only disk), and when
_failed: dict[Path, tuple[float, str]] = {}


class SqliteFile:
    """``read()`` for queries that take no lock, ``write()`` for a transaction that holds it."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._local = threading.local()

    @contextmanager
    def write(self, probing: bool = False) -> Iterator[sqlite3.Connection]:
        db = self.read()
        db.execute("BEGIN IMMEDIATE")  # take the write lock first: no two claimers see the same row
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.OperationalError) and _cannot_write(error):
                _failed[self.path] = (time.monotonic(), str(error))
            raise
        if not probing:  # a real write went through: there is room again (a probe's row may fit anyway)
            _failed.pop(self.path, None)

    def probe(self) -> None:
        """Raise unless the file can take a write: room on its disk, a write that failed for want of it
        not too recent, and a probe row written (a full disk still reads)."""
        stats = os.statvfs(self.path.parent if self.path.parent.exists() else ".")
        free = stats.f_bavail * stats.f_frsize
        if free < MIN_FREE_BYTES:
            raise sqlite3.OperationalError(f"database or disk is full: {free} bytes free on its disk")
        failed = _failed.get(self.path)
        if failed is not None and time.monotonic() - failed[0] < FAILED_FOR:
            raise sqlite3.OperationalError(
                f"a write failed {time.monotonic() - failed[0]:.0f} s ago: {failed[1]}"
            )
        with self.write(probing=True) as db:
            db.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL)")
            db.execute("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)", (time.time(),))

    def read(self) -> sqlite3.Connection:
        """One connection per thread and process (a connection must not cross a fork)."""
        key = os.getpid()
        if getattr(self._local, "pid", None) != key:
            self._local.connection = self._connect()
            self._local.pid = key
        connection: sqlite3.Connection = self._local.connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # it holds the host's secrets
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(self.schema)
        return db


def _cannot_write(error: sqlite3.OperationalError) -> bool:
    """A disk that is full or read-only (not a lock held too long: that is no reason to leave the pool)."""
    text = str(error).lower()
    return "full" in text or "readonly" in text or "disk i/o" in text
