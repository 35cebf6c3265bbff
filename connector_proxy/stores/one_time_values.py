"""One-time values, spent once: an OAuth sign-in's state may finish one sign-in, never two.

Kept beside the jobs (their SQLite file, or their Redis), so every daemon
process, and every instance sharing the Redis, sees a value spent by another.
Only a SHA-256 of the value is stored, until it would have expired anyway.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Protocol

from connector_proxy.config import Settings
from connector_proxy.stores.sqlite_file import SqliteFile

SCHEMA = "CREATE TABLE IF NOT EXISTS spent (digest TEXT PRIMARY KEY, until REAL NOT NULL);"


class Spent(Protocol):
    def spend(self, value: str, lifetime: float) -> bool:
        """True the first time ``value`` is spent; False if it was, within ``lifetime`` seconds."""
        ...


class SqliteSpent:
    def __init__(self, path: Path) -> None:
        self.file = SqliteFile(path, SCHEMA)

    def spend(self, value: str, lifetime: float) -> bool:
        now = time.time()
        with self.file.write() as db:
            db.execute("DELETE FROM spent WHERE until < ?", (now,))  # the table holds live values only
            added = db.execute(
                "INSERT OR IGNORE INTO spent (digest, until) VALUES (?, ?)", (_digest(value), now + lifetime)
            )
            return added.rowcount == 1


class RedisSpent:
    def __init__(self, redis_url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.prefix = prefix

    def spend(self, value: str, lifetime: float) -> bool:
        key = f"{self.prefix}:spent:{_digest(value)}"
        return bool(self.redis.set(key, 1, nx=True, ex=max(1, int(lifetime) + 1)))


def create_spent(settings: Settings) -> Spent:
    """The store beside the jobs'."""
    if settings.jobs.backend == "celery":
        return RedisSpent(settings.jobs.redis_url, settings.jobs.redis_prefix)
    return SqliteSpent(settings.sqlite_path)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
