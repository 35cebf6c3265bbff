"""Events in the jobs' SQLite file: tables of their own, the same connections and write lock."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from connector_proxy.events.model import FINISHED, PENDING, STATES, StoredEvent, next_poll_record
from connector_proxy.events.registration import REMOVED, Registration
from connector_proxy.events.store import LeaseLost, Poll
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    received_at REAL NOT NULL,
    next_at REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_state ON events (state, received_at);
CREATE INDEX IF NOT EXISTS events_due ON events (state, next_at);
CREATE TABLE IF NOT EXISTS event_polls (
    subscription TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_registrations (
    subscription TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_registration_requests (
    subscription TEXT PRIMARY KEY,
    requested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_pollers (
    subscription TEXT PRIMARY KEY,
    cursor TEXT,
    owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0
);
"""


class SqliteEventStore:
    def __init__(self, file: SqliteFile, sealer: Sealer) -> None:
        self.file = file
        self.sealer = sealer

    def add(self, events: Sequence[StoredEvent], poll: Poll | None = None) -> list[bool]:
        with self.file.write() as db:
            if poll is not None:
                row = db.execute(
                    "SELECT owner, lease_until FROM event_pollers WHERE subscription = ?",
                    (poll.subscription,),
                ).fetchone()
                if row is None or row[0] != poll.owner or row[1] < time.time():
                    raise LeaseLost(poll.subscription)
                db.execute(
                    "UPDATE event_pollers SET cursor = ? WHERE subscription = ?",
                    (json.dumps(poll.cursor), poll.subscription),
                )
            return [self._insert(db, event) for event in events]

    def _insert(self, db: Any, event: StoredEvent) -> bool:
        inserted = db.execute(
            "INSERT OR IGNORE INTO events (id, state, received_at, next_at, data) VALUES (?, ?, ?, ?, ?)",
            (event.id, event.state, event.received_at, event.next_at, event.to_json(self.sealer)),
        ).rowcount
        return bool(inserted)

    def get(self, event_id: str) -> StoredEvent | None:
        row = self.file.read().execute("SELECT data FROM events WHERE id = ?", (event_id,)).fetchone()
        return StoredEvent.from_json(row[0], self.sealer) if row else None

    def list(self, state: str | None = None, limit: int = 100) -> list[StoredEvent]:
        if state is None:
            query, arguments = "SELECT data FROM events ORDER BY received_at DESC LIMIT ?", (limit,)
        else:
            query = "SELECT data FROM events WHERE state = ? ORDER BY received_at DESC LIMIT ?"
            arguments = (state, limit)  # type: ignore[assignment]
        rows = self.file.read().execute(query, arguments).fetchall()
        return [StoredEvent.from_json(row[0], self.sealer) for row in rows]

    def save(self, event: StoredEvent) -> None:
        with self.file.write() as db:
            db.execute(
                "UPDATE events SET state = ?, next_at = ?, data = ? WHERE id = ?",
                (event.state, event.next_at, event.to_json(self.sealer), event.id),
            )

    def claim_due(self, hold: float) -> StoredEvent | None:
        now = time.time()
        due = "SELECT 1 FROM events WHERE state = ? AND next_at <= ? LIMIT 1"
        if not self.file.read().execute(due, (PENDING, now)).fetchone():
            return None  # a read takes no lock: idle loops cost next to nothing
        with self.file.write() as db:
            row = db.execute(
                "SELECT data FROM events WHERE state = ? AND next_at <= ? ORDER BY next_at LIMIT 1",
                (PENDING, now),
            ).fetchone()
            if row is None:
                return None
            event = StoredEvent.from_json(row[0], self.sealer)
            db.execute("UPDATE events SET next_at = ? WHERE id = ?", (now + hold, event.id))
            return event

    def cursor(self, subscription: str) -> Any:
        query = "SELECT cursor FROM event_pollers WHERE subscription = ?"
        row = self.file.read().execute(query, (subscription,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def hold_lease(self, subscription: str, owner: str, seconds: float) -> bool:
        now = time.time()
        query = "SELECT owner, lease_until FROM event_pollers WHERE subscription = ?"
        held = self.file.read().execute(query, (subscription,)).fetchone()
        if held is not None and held[0] not in (None, owner) and held[1] >= now:
            return False  # another's, and alive: a read takes no lock (every worker asks every second)
        with self.file.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO event_pollers (subscription, owner, lease_until) VALUES (?, NULL, 0)",
                (subscription,),
            )
            taken = db.execute(
                "UPDATE event_pollers SET owner = ?, lease_until = ?"
                " WHERE subscription = ? AND (owner = ? OR owner IS NULL OR lease_until < ?)",
                (owner, now + seconds, subscription, owner, now),
            ).rowcount
        return bool(taken)

    def release_lease(self, subscription: str, owner: str) -> None:
        with self.file.write() as db:
            db.execute(
                "UPDATE event_pollers SET owner = NULL, lease_until = 0 WHERE subscription = ? AND owner = ?",
                (subscription, owner),
            )

    def record_poll(self, subscription: str, result: str, found: int, error: str | None) -> None:
        with self.file.write() as db:
            row = db.execute(
                "SELECT data FROM event_polls WHERE subscription = ?", (subscription,)
            ).fetchone()
            record = next_poll_record(json.loads(row[0]) if row else None, result, found, error, time.time())
            db.execute(
                "INSERT OR REPLACE INTO event_polls (subscription, data) VALUES (?, ?)",
                (subscription, json.dumps(record)),
            )

    def polls(self) -> dict[str, dict[str, Any]]:
        rows = self.file.read().execute("SELECT subscription, data FROM event_polls").fetchall()
        return {subscription: json.loads(data) for subscription, data in rows}

    def registration(self, subscription: str) -> Registration | None:
        query = "SELECT data FROM event_registrations WHERE subscription = ?"
        row = self.file.read().execute(query, (subscription,)).fetchone()
        return Registration.from_json(row[0], self.sealer) if row else None

    def registrations(self) -> Sequence[Registration]:
        query = "SELECT data FROM event_registrations ORDER BY subscription"
        return [Registration.from_json(row[0], self.sealer) for row in self.file.read().execute(query)]

    def save_registration(self, registration: Registration) -> None:
        with self.file.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO event_registrations (subscription, data) VALUES (?, ?)",
                (registration.subscription, registration.to_json(self.sealer)),
            )

    def request_registration(self, subscription: str, at: float) -> None:
        with self.file.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO event_registration_requests (subscription, requested_at)"
                " VALUES (?, ?)",
                (subscription, at),
            )

    def registration_requests(self) -> dict[str, float]:
        rows = self.file.read().execute("SELECT subscription, requested_at FROM event_registration_requests")
        return {subscription: float(at) for subscription, at in rows}

    def take_registration_request(self, subscription: str, at: float) -> None:
        with self.file.write() as db:
            db.execute(
                "DELETE FROM event_registration_requests WHERE subscription = ? AND requested_at = ?",
                (subscription, at),
            )

    def prune_registrations(self, older_than: float) -> int:
        with self.file.write() as db:
            rows = db.execute("SELECT subscription, data FROM event_registrations").fetchall()
            old = [(name, data) for name, data in rows if _removed_before(data, older_than, self.sealer)]
            for name, data in old:  # in the write's transaction: nothing rewrote it since it was read
                forget = "DELETE FROM event_registrations WHERE subscription = ? AND data = ?"
                db.execute(forget, (name, data))
            db.execute(  # a request whose subscription has no record left: never taken
                "DELETE FROM event_registration_requests WHERE requested_at < ?"
                " AND subscription NOT IN (SELECT subscription FROM event_registrations)",
                (older_than,),
            )
            return len(old)

    def counts(self) -> dict[str, int]:
        rows = self.file.read().execute("SELECT state, COUNT(*) FROM events GROUP BY state").fetchall()
        return {state: 0 for state in STATES} | {state: count for state, count in rows}

    def prune(self, older_than: float) -> int:
        with self.file.write() as db:
            return int(
                db.execute(
                    "DELETE FROM events WHERE state IN (?, ?) AND received_at < ?", (*FINISHED, older_than)
                ).rowcount
            )

    def ping(self) -> None:
        """A write, not a read: a full disk still reads."""
        self.file.probe()

    def recover(self) -> None:
        """One daemon owns the file: what its last run held is free now."""
        with self.file.write() as db:
            now = time.time()  # a delivery held by a stopped process goes out now
            db.execute("UPDATE events SET next_at = ? WHERE state = ? AND next_at > ?", (now, PENDING, now))
            db.execute("UPDATE event_pollers SET owner = NULL, lease_until = 0")


def _removed_before(data: str | bytes, older_than: float, sealer: Sealer) -> bool:
    record = Registration.from_json(data, sealer)
    return record.state == REMOVED and record.updated_at < older_than
