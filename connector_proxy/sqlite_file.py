"""One SQLite file shared by the worker processes: a connection per thread and process, and write
transactions that take the lock first. The job store and the event store keep their tables in it.

Commits use WAL with ``synchronous=NORMAL``: a killed process loses nothing committed (a power
cut may lose the last transactions).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SqliteFile:
    """``read()`` for queries that take no lock, ``write()`` for a transaction that holds it."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        db = self.read()
        db.execute("BEGIN IMMEDIATE")  # take the write lock first: no two claimers see the same row
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

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
